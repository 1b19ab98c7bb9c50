package reliability

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Hostile input: a 100 MB capsule and a 10,000-deep nesting get a clear
// error and exit code 2 (or 1 for validate's verdict) from every command
// that reads capsules, without exhausting memory.
func TestHostileInputRejected(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the CLI and writes 100 MB files")
	}
	bin, err := buildCLI()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.json")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"type":"tool","trigger":{"request":"`)
	chunk := bytes.Repeat([]byte("a"), 1<<20)
	for range 100 {
		f.Write(chunk)
	}
	f.WriteString(`"}}`)
	f.Close()
	deep := filepath.Join(dir, "deep.json")
	os.WriteFile(deep, []byte(`{"type":"tool","context":{"environment":{"x":`+strings.Repeat("[", 10000)+strings.Repeat("]", 10000)+`}}}`), 0o644)

	db := filepath.Join(dir, "capsules.db")
	env := append(os.Environ(), "QUANTUMPIPES_DATA_DIR="+dir)
	cases := []struct {
		args     []string
		code     int
		wantText string
	}{
		{[]string{"seal", "--db", db, huge}, 2, "longer than 16777216 bytes"},
		{[]string{"verify", huge}, 2, "longer than 16777216 bytes"},
		{[]string{"canonical", huge}, 2, "larger than 16777216 bytes"},
		{[]string{"validate", huge}, 2, "larger than 16777216 bytes"},
		{[]string{"seal", "--db", db, deep}, 2, "nesting deeper than 512 levels"},
		{[]string{"canonical", deep}, 2, "nesting deeper than 512 levels"},
		{[]string{"validate", "--json", deep}, 2, "nesting deeper than 512 levels"},
	}
	for _, c := range cases {
		cmd := exec.Command(bin, c.args...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code || !strings.Contains(out.String(), c.wantText) || out.Len() > 4096 {
			t.Errorf("capsule %s %s: exit %d, want %d with %q in:\n%.500s", c.args[0], filepath.Base(c.args[len(c.args)-1]), code, c.code, c.wantText, out.String())
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > 200<<10 {
			t.Errorf("capsule %s %s: peak RSS %d MB", c.args[0], filepath.Base(c.args[len(c.args)-1]), ru.Maxrss>>10)
		}
	}
}
