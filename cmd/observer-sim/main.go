// Command observer-sim is obflow's OBServer simulator. Install it as
// <home>/bin/observer; it takes observer's command line (see package obsim).
package main

import (
	"os"

	"github.com/obflow/obflow/internal/obsim"
)

func main() { os.Exit(obsim.Main(os.Args)) }
