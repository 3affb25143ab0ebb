package daemon_test

import (
	"slices"
	"testing"

	"github.com/podwire/podwire/api"
	"github.com/podwire/podwire/forwarder"
)

// TestDropReasonNames: the API names every drop reason the forwarder
// counts, and no other.
func TestDropReasonNames(t *testing.T) {
	if got, want := api.DropReasons, forwarder.DropReasons(); !slices.Equal(got, want) {
		t.Fatalf("api.DropReasons = %v, forwarder.DropReasons() = %v", got, want)
	}
}
