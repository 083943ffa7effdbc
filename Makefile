# tickcast: `make test` runs everything CI runs.

.PHONY: test build bench fuzz generate demo

test:
	scripts/test.sh

build:
	go build -o bin/tickcast ./cmd/tickcast

demo:
	go run ./cmd/tickcast demo

generate:
	go generate ./schema

# Benchmarks: allocations and throughput (figures in the issue notes and docs).
bench:
	go test -run '^$$' -bench . -benchmem ./schema ./publisher ./topic ./pgm/... ./e2e

# A minute of fuzzing per decoder and state machine that reads untrusted bytes.
fuzz:
	go test -run '^$$' -fuzz FuzzDecode -fuzztime 60s ./schema
	go test -run '^$$' -fuzz FuzzParseMessage -fuzztime 60s ./zmtp
	go test -run '^$$' -fuzz FuzzHandshake -fuzztime 60s ./zmtp
	go test -run '^$$' -fuzz FuzzFrameReader -fuzztime 60s ./zmtp
	go test -run '^$$' -fuzz FuzzParsePacket -fuzztime 60s ./pgm/wire
	go test -run '^$$' -fuzz FuzzParseOptions -fuzztime 60s ./pgm/wire
	go test -run '^$$' -fuzz FuzzDecoder -fuzztime 60s ./pgm/apdu
	go test -run '^$$' -fuzz FuzzPackDecode -fuzztime 60s ./pgm/apdu
	go test -run '^$$' -fuzz FuzzReceiver -fuzztime 60s ./pgm/receiver
	go test -run '^$$' -fuzz FuzzSource -fuzztime 60s ./pgm/source
	go test -run '^$$' -fuzz FuzzFeed -fuzztime 60s ./subscriber
