package gen

import (
	"os"
	"path/filepath"
	"testing"
)

// writeFile gives a new file mode 0644 and keeps the mode of a file it
// replaces.
func TestWriteFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x_capsule.go")
	for _, c := range []struct {
		chmod os.FileMode // set before the write; 0: the file is new
		want  os.FileMode
	}{
		{0, 0o644},
		{0o600, 0o600},
		{0o664, 0o664},
	} {
		if c.chmod != 0 {
			if err := os.Chmod(path, c.chmod); err != nil {
				t.Fatal(err)
			}
		}
		if err := writeFile(path, []byte("package x\n")); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != c.want {
			t.Errorf("after chmod %v: mode %v, want %v", c.chmod, fi.Mode().Perm(), c.want)
		}
	}
}
