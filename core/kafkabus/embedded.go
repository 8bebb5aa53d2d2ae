package kafkabus

import (
	"context"
	"fmt"
	"net"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Embedded is the in-process Kafka-protocol broker used when no brokers are
// configured. Its log is persisted under the data dir.
type Embedded struct {
	cluster *kfake.Cluster
	addr    string
}

// StartEmbedded starts the broker listening on addr (host:port; port 0 picks
// a free one), persisted under dataDir/kafka.
func StartEmbedded(dataDir, addr string, partitions int) (*Embedded, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: address %q: %w", addr, err)
	}
	listen := func(network, _ string) (net.Listener, error) {
		return net.Listen(network, net.JoinHostPort(host, port))
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(listen),
		kfake.DefaultNumPartitions(partitions),
		kfake.AllowAutoTopicCreation(),
		// kfake grows each partition buffer by doubling up to the segment
		// size, stalling produce at each doubling: keep segments small.
		kfake.BrokerConfigs(map[string]string{"log.segment.bytes": "1048576"}),
	}
	if dataDir != "" {
		opts = append(opts, kfake.DataDir(filepath.Join(dataDir, "kafka")))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: start on %s: %w", addr, err)
	}
	return &Embedded{cluster: c, addr: c.ListenAddrs()[0]}, nil
}

// Addr returns the address clients dial.
func (e *Embedded) Addr() string { return e.addr }

// Close stops the broker and flushes its data to disk.
func (e *Embedded) Close() { e.cluster.Close() }

// WaitGroupStable waits until a consumer group has n members and is stable
// (tests use it before sending, so that every member has partitions).
func (e *Embedded) WaitGroupStable(ctx context.Context, group string, n int) error {
	_, err := e.cluster.WaitGroupStable(ctx, group, n)
	return err
}

// Assignment returns, for each member of a consumer group, the partitions of
// a topic it holds, and the group's generation.
func (e *Embedded) Assignment(group, topic string) (generation int32, members [][]int32) {
	gi := e.cluster.GroupInfo(group)
	if gi == nil {
		return 0, nil
	}
	for _, m := range gi.Members {
		members = append(members, m.Assignment[topic])
	}
	return gi.Epoch, members
}
