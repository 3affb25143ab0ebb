module github.com/podwire/podwire

go 1.26.8

require golang.org/x/sys v0.50.0

require github.com/google/gopacket v1.1.19
