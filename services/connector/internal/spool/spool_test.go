package spool

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestOrderSurvivesReopenAndBoundHolds(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(dir, 400, "a")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Append("pbx.freeswitch.acct1", []byte("event "+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Append("pbx.freeswitch.acct1", make([]byte, 400)); !errors.Is(err, ErrFull) {
		t.Fatalf("append past the bound: %v, want ErrFull", err)
	}
	// A crash mid-write leaves a .tmp file; a reopened spool ignores it
	// and keeps the order.
	if err := os.WriteFile(filepath.Join(dir, "00000000000000000009.rec.tmp"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, 400, "b")
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 3 {
		t.Fatalf("%d records after reopening, want 3", s.Len())
	}
	for i := range 3 {
		rec, ok, _, err := s.Oldest()
		if err != nil || !ok || string(rec.Data) != "event "+strconv.Itoa(i) || rec.MsgID != "a-"+strconv.Itoa(i+1) || rec.Subject != "pbx.freeswitch.acct1" {
			t.Fatalf("record %d: %+v %v %v", i, rec, ok, err)
		}
		if err := s.Remove(rec.Seq); err != nil {
			t.Fatal(err)
		}
	}
	_, ok, wait, err := s.Oldest()
	if ok || err != nil || wait == nil {
		t.Fatalf("empty spool: ok=%v err=%v", ok, err)
	}
	if err := s.Append("pbx.freeswitch.acct1", []byte("next")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wait:
	default:
		t.Error("Append did not wake the waiter")
	}
	rec, _, _, _ := s.Oldest()
	if rec.Seq != 4 || rec.MsgID != "b-4" {
		t.Errorf("sequence after reopening: %+v, want 4 with the new run's id", rec)
	}
}

func TestCorruptRecordIsReported(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "00000000000000000001.rec"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, 1<<20, "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.Oldest(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Oldest: %v, want ErrCorrupt", err)
	}
	if err := s.RemoveOldest(); err != nil || s.Len() != 0 {
		t.Fatalf("RemoveOldest: %v, %d left", err, s.Len())
	}
}
