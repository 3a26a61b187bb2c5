package main

import (
	"os"
	"path/filepath"

	"github.com/obflow/obflow/internal/obsim"
)

// observerName is the name the dev stack installs this binary under in each observer home
// (<home>/bin/observer). Started under that name, obflow is the OBServer simulator, exactly as
// cmd/observer-sim is: one binary serves the agents, the workers and the simulated observers, and
// `obflow dev` needs no Go toolchain at run time.
const observerName = "observer"

// init runs before cobra sees the command line, which is an observer's (-n -c -z ...), not
// obflow's.
func init() {
	if len(os.Args) > 0 && filepath.Base(os.Args[0]) == observerName {
		os.Exit(obsim.Main(os.Args))
	}
}
