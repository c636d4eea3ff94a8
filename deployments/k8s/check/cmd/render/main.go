// Command render prints one variant of the pbxhooks manifests as YAML, or
// with -list the names of all of them; `make k8s-check` applies its output.
//
//	go run ./cmd/render -dir ../ prod+keda
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/pbxhooks/pbxhooks/deployments/k8s/check"
)

func main() {
	dir := flag.String("dir", "..", "the deployments/k8s directory")
	list := flag.Bool("list", false, "print every variant's name")
	flag.Parse()
	if err := run(*dir, *list, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

func run(dir string, list bool, args []string) error {
	if list {
		for _, v := range check.Variants() {
			fmt.Println(v.Name())
		}
		return nil
	}
	if len(args) != 1 {
		return fmt.Errorf("usage: render [-dir DIR] VARIANT | -list")
	}
	v, err := check.ParseVariant(args[0])
	if err != nil {
		return err
	}
	m, err := check.Render(dir, v)
	if err != nil {
		return err
	}
	out, err := m.AsYaml()
	if err != nil {
		return fmt.Errorf("encode %s: %w", v.Name(), err)
	}
	_, err = os.Stdout.Write(out)
	return err
}
