package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The generated files in the tree are what the declaration gives now, and
// generating is deterministic.
func TestGeneratedFilesAreFresh(t *testing.T) {
	files, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	again, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		if !bytes.Equal(f.src, again[i].src) {
			t.Errorf("%s: two runs differ", f.path)
		}
		old, err := os.ReadFile(filepath.Join("..", "..", f.path))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(old, f.src) {
			t.Errorf("%s is stale: run go generate . in the module's root", f.path)
		}
	}
}
