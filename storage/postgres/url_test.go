package postgres

import "testing"

func TestIsURL(t *testing.T) {
	for s, want := range map[string]bool{
		"postgres://u@127.0.0.1:5432/db?sslmode=disable": true,
		"postgresql://u@host/db":                         true,
		"POSTGRES://host/db":                             true,
		"postgres:///db":                                 true,
		"postgres-audit.db":                              false,
		"postgres.db":                                    false,
		"./postgres/capsules.db":                         false,
		"postgres:capsules.db":                           false,
		"sqlite:///tmp/postgres.db":                      false,
		"":                                               false,
	} {
		if got := IsURL(s); got != want {
			t.Errorf("IsURL(%q) = %v, want %v", s, got, want)
		}
	}
}
