package sections

import (
	"slices"
	"testing"
)

func TestKeys(t *testing.T) {
	m := map[string]any{"zeta": 1, "status": 2, "alpha": 3, "result": 4}
	got := Keys(m, []string{"status", "result", "summary"})
	if want := []string{"status", "result", "alpha", "zeta"}; !slices.Equal(got, want) {
		t.Errorf("Keys = %q, want %q", got, want)
	}
	if got := Keys(map[string]any{}, Order[0]); len(got) != 0 {
		t.Errorf("Keys of an empty map = %q", got)
	}
	if len(Order) != 6 {
		t.Errorf("%d sections, want 6", len(Order))
	}
}
