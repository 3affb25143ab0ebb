module github.com/podwire/podwire

go 1.26.8
