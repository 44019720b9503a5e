package config

import (
	"strings"
	"testing"
)

// The compression section: off by default, set by the file or by
// RAMPART_COMPRESSION_*, and a bad threshold named with its line.
func TestCompressionKeys(t *testing.T) {
	f, err := Parse("c.yaml", nil, []string{secret})
	if err != nil {
		t.Fatal(err)
	}
	if c := f.Compiled().Settings().Compression; c.Enabled || c.ThresholdBytes != 512 {
		t.Fatalf("defaults: %+v, want off with a 512-byte threshold", c)
	}
	f, err = Parse("c.yaml", []byte("compression:\n  enabled: true\n  threshold_bytes: 1024\n"), []string{secret})
	if err != nil {
		t.Fatal(err)
	}
	if c := f.Compiled().Settings().Compression; !c.Enabled || c.ThresholdBytes != 1024 {
		t.Fatalf("from the file: %+v", c)
	}
	f, err = Parse("c.yaml", nil, []string{secret, "RAMPART_COMPRESSION_ENABLED=true"})
	if err != nil {
		t.Fatal(err)
	}
	if !f.Compiled().Settings().Compression.Enabled {
		t.Fatal("RAMPART_COMPRESSION_ENABLED=true left compression off")
	}
	_, err = Parse("c.yaml", []byte("compression:\n  enabled: true\n  threshold_bytes: -5\n"), []string{secret})
	if want := "c.yaml:3: compression.threshold_bytes: must be between 0 and 16777216, not -5"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
}
