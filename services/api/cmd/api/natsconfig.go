package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/pbxhooks/pbxhooks/pkg/natsauth"
)

// accountList is a repeatable --account flag.
type accountList []string

func (a *accountList) String() string { return fmt.Sprint(*a) }

func (a *accountList) Set(v string) error {
	*a = append(*a, v)
	return nil
}

// natsConfig is `api nats-config --secrets FILE [--account ID]...`: it
// prints the nats-server authorization block of a production deployment
// (natsauth's layout) on out. The passwords live in the secrets file: the
// ones already there are kept (so adding an account does not change the
// others'), missing ones are generated, and the file is rewritten (0600).
func natsConfig(args []string, out io.Writer) error {
	fset := flag.NewFlagSet("nats-config", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	var accounts accountList
	fset.Var(&accounts, "account", "a PBX account id to give a NATS user (repeat for each account)")
	secretsPath := fset.String("secrets", "", "file of user=password lines: read if it exists, then rewritten with every user's password")
	if err := fset.Parse(args); err != nil {
		return fmt.Errorf("nats-config: %w (usage: api nats-config --secrets FILE [--account ID]...)", err)
	}
	if *secretsPath == "" || fset.NArg() > 0 {
		//lint:ignore ST1005 a usage synopsis: "..." says the flag repeats, as in the README
		return errors.New("usage: api nats-config --secrets FILE [--account ID]...")
	}
	given := map[string]string{}
	raw, err := os.ReadFile(*secretsPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("read secrets: %w", err)
	default:
		if given, err = natsauth.ParseSecrets(string(raw)); err != nil {
			return fmt.Errorf("%s: %w", *secretsPath, err)
		}
	}
	users, passwords, err := natsauth.Users(accounts, given)
	if err != nil {
		return err
	}
	// Passwords of users no longer generated (a removed account) are kept
	// in the file, so restoring the account restores its password; the
	// configuration no longer lets them in.
	for name, pw := range given {
		if _, ok := passwords[name]; !ok {
			passwords[name] = pw
		}
	}
	conf, err := natsauth.Render(users, 0)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*secretsPath, []byte(natsauth.FormatSecrets(passwords)), 0o600); err != nil {
		return fmt.Errorf("write secrets: %w", err)
	}
	if err := os.Chmod(*secretsPath, 0o600); err != nil {
		return fmt.Errorf("write secrets: %w", err)
	}
	_, err = io.WriteString(out, conf)
	return err
}
