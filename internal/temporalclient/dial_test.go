package temporalclient

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/obflow/obflow/internal/devserver/devservertest"
)

func TestMain(m *testing.M) { devservertest.Main(m) }

func TestDialDevServerWithCodec(t *testing.T) {
	s := devservertest.Server()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := Config{
		Address:      s.HostPort(),
		CodecKeyFile: s.CodecKeyFile(),
		Env:          noConfigFile(t, fakeEnv{"TEMPORAL_NAMESPACE": s.Namespace()}),
	}
	c, err := Dial(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		t.Fatal(err)
	}

	// A workflow started through this client is readable, decrypted, by a
	// client holding the server's key, and only encrypted without it.
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "dial-test", TaskQueue: "nobody"}, "Anything", "hello")
	if err != nil {
		t.Fatal(err)
	}
	defer c.TerminateWorkflow(context.Background(), run.GetID(), "", "test done")
	for _, tc := range []struct {
		name  string
		dc    converter.DataConverter
		plain bool
	}{
		{"server key", s.DataConverter(), true},
		{"no key", converter.GetDefaultDataConverter(), false},
	} {
		other := devservertest.NewClient(t, client.Options{DataConverter: tc.dc})
		hist := other.GetWorkflowHistory(ctx, run.GetID(), "", false, 0)
		ev, err := hist.Next()
		if err != nil {
			t.Fatal(err)
		}
		var got string
		err = tc.dc.FromPayloads(ev.GetWorkflowExecutionStartedEventAttributes().GetInput(), &got)
		if tc.plain && (err != nil || got != "hello") {
			t.Errorf("%s: input = %q, %v", tc.name, got, err)
		}
		if !tc.plain && got == "hello" {
			t.Errorf("%s: input readable without the key", tc.name)
		}
	}
}

func TestDialUnreachableNamesAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t.Chdir(t.TempDir())
	_, err = Dial(ctx, Config{Address: addr, Env: noConfigFile(t, fakeEnv{})}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("err = %v, want one naming %s", err, addr)
	}
}
