package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presence/cluster"
)

// natsOptions are the flags of presence on NATS JetStream (-nats and those
// after it). Without -nats none applies and the in-memory engine serves.
type natsOptions struct {
	urls        string
	creds       string
	tlsCA       string
	tlsCert     string
	tlsKey      string
	bucket      string
	buckets     int
	replicas    int
	storage     string
	markerTTL   time.Duration
	callTimeout time.Duration
	startWait   time.Duration
}

// natsDefaults are the NATS flags' defaults.
var natsDefaults = natsOptions{
	bucket:      cluster.DefaultBucket,
	buckets:     1,
	replicas:    1,
	storage:     "file",
	callTimeout: cluster.DefaultTimeout,
	startWait:   30 * time.Second,
}

// addNATSFlags declares the NATS flags on fs, filling n.
func addNATSFlags(fs *flag.FlagSet, n *natsOptions) {
	*n = natsDefaults
	fs.StringVar(&n.urls, "nats", "", "NATS server `urls`, comma-separated (nats://h1:4222,nats://h2:4222): keep presence in JetStream, shared by every presenced on it; empty keeps it in memory")
	fs.StringVar(&n.creds, "nats-creds", "", "NATS credentials `file` (a user JWT and its NKey seed)")
	fs.StringVar(&n.tlsCA, "nats-tls-ca", "", "PEM `file` of the CAs that sign the NATS servers' certificates")
	fs.StringVar(&n.tlsCert, "nats-tls-cert", "", "PEM client certificate `file` for NATS (with -nats-tls-key)")
	fs.StringVar(&n.tlsKey, "nats-tls-key", "", "PEM client key `file` for NATS (with -nats-tls-cert)")
	fs.StringVar(&n.bucket, "nats-bucket", n.bucket, "`name` prefix of the JetStream buckets; presenced servers with the same share one presence")
	fs.IntVar(&n.buckets, "nats-buckets", n.buckets, "how many buckets members are spread over, by channel (1 to 64); every server must give the same")
	fs.IntVar(&n.replicas, "nats-replicas", n.replicas, "JetStream servers each bucket is kept on: 1, 3 or 5")
	fs.StringVar(&n.storage, "nats-storage", n.storage, "bucket storage: file or memory")
	fs.Var((*seconds)(&n.markerTTL), "nats-marker-ttl", "how long markers of members that left or timed out stay in the buckets (`duration`, at most -min-timeout; 0 means -min-timeout)")
	fs.Var((*seconds)(&n.callTimeout), "nats-timeout", "how long a call waits for JetStream before failing with 503 (`duration`)")
	fs.Var((*seconds)(&n.startWait), "nats-start-timeout", "how long the start waits for NATS and for reading the buckets (`duration`)")
}

// check validates the NATS flags that parsing cannot.
func (n natsOptions) check() error {
	if n.urls == "" {
		return nil
	}
	switch {
	case n.storage != "file" && n.storage != "memory":
		return fmt.Errorf("-nats-storage %q: want file or memory", n.storage)
	case (n.tlsCert == "") != (n.tlsKey == ""):
		return errors.New("-nats-tls-cert and -nats-tls-key: give both or neither")
	case n.callTimeout <= 0:
		return fmt.Errorf("-nats-timeout %v: must be positive", n.callTimeout)
	case n.startWait <= 0:
		return fmt.Errorf("-nats-start-timeout %v: must be positive", n.startWait)
	}
	return nil
}

// connect connects to NATS with what a server needs: reconnection that
// never gives up, and the credentials and TLS the flags name. Losing NATS
// is logged; calls fail with 503 meanwhile and the node carries on when it
// is back.
func (n natsOptions) connect(logger *slog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name("presenced"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(n.startWait),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			logger.Warn("nats: disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("nats: reconnected", "server", nc.ConnectedUrlRedacted())
		}),
	}
	if n.creds != "" {
		opts = append(opts, nats.UserCredentials(n.creds))
	}
	if n.tlsCA != "" {
		opts = append(opts, nats.RootCAs(n.tlsCA))
	}
	if n.tlsCert != "" {
		opts = append(opts, nats.ClientCert(n.tlsCert, n.tlsKey))
	}
	nc, err := nats.Connect(n.urls, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", redact(n.urls), err)
	}
	return nc, nil
}

// redact hides the passwords of NATS urls given in the user:pass@ form.
func redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, u := range parts {
		if at := strings.LastIndexByte(u, '@'); at >= 0 {
			if scheme := strings.Index(u, "://"); scheme >= 0 && scheme < at {
				parts[i] = u[:scheme+3] + "***" + u[at:]
			}
		}
	}
	return strings.Join(parts, ",")
}

// startNode starts the cluster node on nc with the presence settings of o.
func (o options) startNode(ctx context.Context, nc *nats.Conn, logger *slog.Logger) (*cluster.Node, error) {
	storage := jetstream.FileStorage
	if o.nats.storage == "memory" {
		storage = jetstream.MemoryStorage
	}
	cfg := cluster.Config{
		Bucket:         o.nats.bucket,
		Buckets:        o.nats.buckets,
		Replicas:       o.nats.replicas,
		Storage:        storage,
		MarkerTTL:      o.nats.markerTTL,
		DefaultTimeout: o.defaultTimeout,
		MinTimeout:     o.minTimeout,
		MaxTimeout:     o.maxTimeout,
		AnnounceMax:    o.announceMax,
		Interval:       o.interval,
		IntervalDeltas: o.deltas,
		MaxMembers:     o.maxMembers,
		Timeout:        o.nats.callTimeout,
		Logger:         logger,
	}
	ctx, cancel := context.WithTimeout(ctx, o.nats.startWait)
	defer cancel()
	node, err := cluster.New(ctx, nc, cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return node, nil
}
