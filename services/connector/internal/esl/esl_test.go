package esl_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/services/connector/internal/esl"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/esltest"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

func capture(t testing.TB, name string) []byte {
	return testenv.SharedFixture(t, "pbx-captures", "freeswitch", name)
}

// serverBytes is everything FreeSWITCH sent in a capture, in order.
func serverBytes(t testing.TB, name string) []byte {
	var out []byte
	for _, sess := range esltest.ParseCapture(capture(t, name)) {
		for _, st := range sess {
			out = append(out, st.Send...)
		}
	}
	return out
}

func readAll(t *testing.T, b []byte) []*esl.Frame {
	t.Helper()
	r := bufio.NewReader(bytes.NewReader(b))
	var frames []*esl.Frame
	for {
		f, err := esl.ReadFrame(r)
		if errors.Is(err, io.EOF) {
			return frames
		}
		if err != nil {
			t.Fatalf("frame %d: %v", len(frames)+1, err)
		}
		frames = append(frames, f)
	}
}

func TestReadFrameOnCaptures(t *testing.T) {
	t.Parallel()
	// The parser must find as many frames of each kind as the capture's
	// text shows Content-Type lines for.
	count := func(name, s string) int { return strings.Count(string(capture(t, name)), "Content-Type: "+s+"\n") }
	for _, tt := range []struct {
		name    string
		ctype   string
		events  int
		notices int
	}{
		{"vm_json.txt", esl.TypeEventJSON, 13, 1},
		{"disconnect.txt", esl.TypeEventJSON, count("disconnect.txt", esl.TypeEventJSON), 1},
		{"plain.txt", esl.TypeEventPlain, count("plain.txt", esl.TypeEventPlain), 1},
		{"proto.txt", esl.TypeEventJSON, 1, 1},
		{"badauth.txt", esl.TypeEventJSON, 0, 1},
	} {
		frames := readAll(t, serverBytes(t, tt.name))
		events, notices := 0, 0
		for _, f := range frames {
			switch f.ContentType() {
			case tt.ctype:
				events++
				if tt.ctype == esl.TypeEventJSON && !json.Valid(f.Body) {
					t.Errorf("%s: event body is not JSON: %.80q", tt.name, f.Body)
				}
			case esl.TypeDisconnectNotice:
				notices++
			}
		}
		if events != tt.events || notices != tt.notices || tt.ctype == esl.TypeEventPlain && events < 10 {
			t.Errorf("%s: %d events, %d disconnect notices; want %d and %d", tt.name, events, notices, tt.events, tt.notices)
		}
	}
}

func TestHandshakeAndCommandReplies(t *testing.T) {
	t.Parallel()
	sessions := esltest.ParseCapture(capture(t, "proto.txt"))
	srv := esltest.Start(t, esltest.Options{Sessions: sessions, ClientCommands: func(string) bool { return true }})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := esl.Dial(ctx, srv.Addr(), "ClueCon", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	replies := map[string]string{
		"linger":                                  "-ERR not controlling a session",
		"myevents":                                "-ERR command not found",
		"event json":                              "-ERR no keywords supplied",
		"event json CHANNEL_CREATE":               "+OK event listener enabled json",
		"nixevent CHANNEL_CREATE":                 "+OK events nixed",
		"filter Event-Name CHANNEL_ANSWER":        "+OK filter added. [Event-Name]=[CHANNEL_ANSWER]",
		"filter delete Event-Name CHANNEL_ANSWER": "+OK filter deleted. [Event-Name][CHANNEL_ANSWER]",
	}
	for _, cmd := range []string{"linger", "myevents", "event json", "event json CHANNEL_CREATE", "nixevent CHANNEL_CREATE", "filter Event-Name CHANNEL_ANSWER", "filter delete Event-Name CHANNEL_ANSWER"} {
		got, err := c.Command(cmd)
		if err != nil || got != replies[cmd] {
			t.Fatalf("%s: %q, %v; want %q", cmd, got, err, replies[cmd])
		}
	}
	if err := c.Send("api status"); err != nil {
		t.Fatal(err)
	}
	f, err := c.ReadFrame()
	if err != nil || f.ContentType() != esl.TypeAPIResponse || !strings.HasPrefix(string(f.Body), "UP 0 years") || len(f.Body) != 337 {
		t.Fatalf("api status: %v %v", f, err)
	}
	if err := c.Send("api show channels as json"); err != nil {
		t.Fatal(err)
	}
	if f, err := c.ReadFrame(); err != nil || string(f.Body) != "{\"row_count\": 0}\n" {
		t.Fatalf("show channels: %v %v", f, err)
	}
	// bgapi's reply, then the BACKGROUND_JOB event it announced, then
	// exit's reply and the disconnect notice: Run hands the frames over in
	// order and ends with ErrDisconnected.
	if got, err := c.Command("bgapi status"); err != nil || !strings.HasPrefix(got, "+OK Job-UUID: a6445a01") {
		t.Fatalf("bgapi: %q %v", got, err)
	}
	if got, err := c.Command("event json BACKGROUND_JOB"); err != nil || got != "+OK event listener enabled json" {
		t.Fatalf("event json BACKGROUND_JOB: %q %v", got, err)
	}
	if err := c.Send("exit"); err != nil {
		t.Fatal(err)
	}
	var seen []string
	err = c.Run(func(f *esl.Frame) error {
		seen = append(seen, f.ContentType()+" "+f.ReplyText())
		return nil
	})
	if !errors.Is(err, esl.ErrDisconnected) {
		t.Errorf("Run ended with %v, want ErrDisconnected", err)
	}
	if want := []string{"text/event-json ", "command/reply +OK bye"}; strings.Join(seen, "|") != strings.Join(want, "|") {
		t.Errorf("frames %q, want %q", seen, want)
	}
}

func TestWrongPasswordIsRefused(t *testing.T) {
	t.Parallel()
	srv := esltest.Start(t, esltest.Options{Sessions: esltest.ParseCapture(capture(t, "badauth.txt")), ClientCommands: func(string) bool { return true }})
	_, err := esl.Dial(t.Context(), srv.Addr(), "wrong", 5*time.Second)
	if !errors.Is(err, esl.ErrAuth) || !strings.Contains(err.Error(), "-ERR invalid") {
		t.Fatalf("Dial with a wrong password: %v, want ErrAuth with FreeSWITCH's reply", err)
	}
	if got := srv.Received(); len(got) != 1 || got[0] != "auth wrong" {
		t.Errorf("server received %q", got)
	}
}

func TestFramesOutOfBounds(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"huge length":     "Content-Type: api/response\nContent-Length: 999999999\n\n",
		"negative length": "Content-Length: -1\n\n",
		"short body":      "Content-Length: 10\n\nabc",
		"no colon":        "Content-Type api/response\n\n",
		"long line":       "X: " + strings.Repeat("a", esl.MaxHeaderLineBytes+10) + "\n\n",
		"cut headers":     "Content-Type: api/response\n",
		"many headers":    strings.Repeat("X: y\n", esl.MaxHeaders+1) + "\n",
	} {
		_, err := esl.ReadFrame(bufio.NewReader(strings.NewReader(in)))
		if !errors.Is(err, esl.ErrFrame) {
			t.Errorf("%s: %v, want ErrFrame", name, err)
		}
	}
}

func FuzzReadFrame(f *testing.F) {
	for _, name := range []string{"proto.txt", "badauth.txt", "vm_json.txt"} {
		b := serverBytes(f, name)
		f.Add(b[:min(len(b), 4096)])
	}
	f.Add([]byte("Content-Length: 3\n\nabc"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(bytes.NewReader(in))
		for range 64 {
			fr, err := esl.ReadFrame(r)
			if err != nil {
				return
			}
			if len(fr.Headers) == 0 || len(fr.Headers) > esl.MaxHeaders || len(fr.Body) > esl.MaxBodyBytes {
				t.Fatalf("frame out of bounds: %d headers, %d body bytes", len(fr.Headers), len(fr.Body))
			}
		}
	})
}
