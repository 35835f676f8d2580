// Command hello is the floor for process start-up in bench/run.sh: a Go
// program that prints one line, built with the same toolchain as cmca.
package main

import "os"

func main() { os.Stdout.WriteString("hello\n") }
