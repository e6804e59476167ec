package fence

import (
	"os"
	"testing"
)

func BenchmarkZZPlanTrue(b *testing.B) {
	home, _ := os.UserHomeDir()
	cwd, _ := os.Getwd()
	env := os.Environ()
	for b.Loop() {
		s := &Spec{Args: []string{"/usr/bin/true"}, Cwd: cwd, Home: home, Env: env}
		if _, err := s.Plan(); err != nil {
			b.Fatal(err)
		}
	}
}
