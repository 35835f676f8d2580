// Command cmca runs a certificate authority's personal-certificate service.
package main

import (
	"os"

	"github.com/cmca/cmca/internal/cli"
)

func main() { os.Exit(cli.Main()) }
