package ami_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/ami"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// captureStream is what Asterisk sent in a capture: the banner line (marked
// "<<BANNER>> ") is not a message.
func captureStream(t testing.TB, name string) (banner string, stream []byte) {
	b := testenv.SharedFixture(t, "pbx-captures", "asterisk", name)
	first, rest, _ := bytes.Cut(b, []byte("\n"))
	return strings.TrimSpace(strings.TrimPrefix(string(first), "<<BANNER>> ")), rest
}

func TestReadsTheCaptures(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"ami_linkedid.txt", "ami_disconnect.txt"} {
		banner, stream := captureStream(t, name)
		if !strings.HasPrefix(banner, "Asterisk Call Manager/") {
			t.Errorf("%s: banner %q", name, banner)
		}
		r := bufio.NewReader(bytes.NewReader(stream))
		var raw []byte
		events := 0
		for {
			m, err := ami.ReadMessage(r)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: message %d: %v", name, events+1, err)
			}
			raw = append(raw, m.Raw...)
			if m.Has("Event") {
				events++
			}
			again, err := ami.Parse(m.Raw)
			if err != nil || again.Get("Event") != m.Get("Event") || len(again.Headers) != len(m.Headers) {
				t.Fatalf("%s: Parse of a read message: %v", name, err)
			}
		}
		if want := strings.Count(string(stream), "\nEvent: ") + strings.Count(string(stream[:min(len(stream), 7)]), "Event: "); events != want {
			t.Errorf("%s: %d events, the capture shows %d", name, events, want)
		}
		if !bytes.Equal(raw, bytes.TrimLeft(stream, "\r\n")) {
			t.Errorf("%s: the messages' raw bytes are not the stream", name)
		}
	}
}

func TestVariablesAndCase(t *testing.T) {
	t.Parallel()
	m, err := ami.Parse([]byte("Event: Newchannel\r\nuniqueid: 1.2\r\nChanVariable: account_id=acme\r\nChanVariable: x=1=2\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Get("Uniqueid") != "1.2" || m.Variables()["account_id"] != "acme" || m.Variables()["x"] != "1=2" {
		t.Errorf("%+v", m)
	}
}

func TestOutOfBounds(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"no key":       "Event Newchannel\r\n\r\n",
		"long line":    "X: " + strings.Repeat("a", ami.MaxLineBytes+10) + "\r\n\r\n",
		"many headers": strings.Repeat("X: y\r\n", ami.MaxHeaders+1) + "\r\n",
		"two":          "A: b\r\n\r\nC: d\r\n\r\n",
		"empty":        "",
	} {
		if _, err := ami.Parse([]byte(in)); !errors.Is(err, ami.ErrMessage) {
			t.Errorf("%s: %v, want ErrMessage", name, err)
		}
	}
}

func FuzzReadMessage(f *testing.F) {
	_, stream := captureStream(f, "ami_linkedid.txt")
	f.Add(stream[:min(len(stream), 4096)])
	f.Add([]byte("Response: Success\r\nActionID: 1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(bytes.NewReader(in))
		for range 64 {
			m, err := ami.ReadMessage(r)
			if err != nil {
				break
			}
			if len(m.Headers) == 0 || len(m.Headers) > ami.MaxHeaders || len(m.Raw) > ami.MaxMessageBytes+ami.MaxLineBytes+2 {
				t.Fatalf("message out of bounds: %d headers, %d bytes", len(m.Headers), len(m.Raw))
			}
		}
		_, _ = ami.Parse(in)
	})
}
