// Command sarama_client drives Sluice with Go's sarama 1.22 (Debian's
// golang-github-shopify-sarama-dev), an old-protocol client: its v2 record
// batches carry maxTimestamp = -1 and its consumer group speaks old JoinGroup
// versions. tests/clients/test_sarama.py builds it at run time in GOPATH mode.
//
// Usage:
//
//	sarama_client produce BOOTSTRAP TOPIC COUNT FIRST_TIMESTAMP_MS STEP_MS
//	sarama_client group   BOOTSTRAP TOPIC GROUP COUNT
//
// produce sends COUNT messages to partition 0, message i with value "m-<i>"
// and timestamp FIRST_TIMESTAMP_MS + i*STEP_MS, in batches of up to 10, and
// prints one JSON line per delivered message: {"i":..,"offset":..}.
// group joins GROUP, consumes COUNT messages from the oldest offset and prints
// one JSON line per message: {"partition":..,"offset":..,"ts":..,"value":..}.
// Every wait is bounded; on failure it prints the error to stderr and exits 1.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/Shopify/sarama"
)

// deadline bounds every command: a broker that never answers fails the run.
const deadline = 60 * time.Second

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "sarama_client: "+format+"\n", args...)
	os.Exit(1)
}

func atoi(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		fail("not a number: %q", s)
	}
	return n
}

func config() *sarama.Config {
	c := sarama.NewConfig()
	// 0.11 is the first version that sends v2 record batches (magic 2).
	c.Version = sarama.V0_11_0_0
	c.ClientID = "sluice-sarama-test"
	c.Metadata.Retry.Max = 20
	c.Metadata.Retry.Backoff = 250 * time.Millisecond
	return c
}

func produce(bootstrap, topic string, count, first, step int64) {
	c := config()
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Producer.Flush.Messages = 10
	c.Producer.Flush.Frequency = 20 * time.Millisecond
	c.Producer.Retry.Max = 10
	p, err := sarama.NewAsyncProducer([]string{bootstrap}, c)
	if err != nil {
		fail("new producer: %v", err)
	}
	for i := int64(0); i < count; i++ {
		p.Input() <- &sarama.ProducerMessage{
			Topic:     topic,
			Partition: 0,
			Value:     sarama.StringEncoder(fmt.Sprintf("m-%d", i)),
			Timestamp: time.Unix(0, (first+i*step)*int64(time.Millisecond)),
			Metadata:  i,
		}
	}
	out := json.NewEncoder(os.Stdout)
	timeout := time.After(deadline)
	for done := int64(0); done < count; done++ {
		select {
		case m := <-p.Successes():
			if err := out.Encode(map[string]int64{"i": m.Metadata.(int64), "offset": m.Offset}); err != nil {
				fail("write: %v", err)
			}
		case e := <-p.Errors():
			fail("produce: %v", e.Err)
		case <-timeout:
			fail("produce: %d of %d delivered before the deadline", done, count)
		}
	}
	if err := p.Close(); err != nil {
		fail("close producer: %v", err)
	}
}

// handler collects messages until it has `want` of them, then cancels the session.
type handler struct {
	want   int
	got    []map[string]interface{}
	cancel context.CancelFunc
}

func (h *handler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		h.got = append(h.got, map[string]interface{}{
			"partition": m.Partition,
			"offset":    m.Offset,
			"ts":        m.Timestamp.UnixNano() / int64(time.Millisecond),
			"value":     string(m.Value),
		})
		s.MarkMessage(m, "")
		if len(h.got) >= h.want {
			h.cancel()
			return nil
		}
	}
	return nil
}

func group(bootstrap, topic, groupID string, count int64) {
	c := config()
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Return.Errors = true
	// A retention makes sarama commit with OffsetCommit v2; without one it sends v1, which
	// Kafka 4 removed (KIP-896) and Sluice refuses as Kafka 4 does.
	c.Consumer.Offsets.Retention = 24 * time.Hour
	g, err := sarama.NewConsumerGroup([]string{bootstrap}, groupID, c)
	if err != nil {
		fail("new consumer group: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	go func() {
		for e := range g.Errors() {
			fmt.Fprintf(os.Stderr, "sarama_client: group error: %v\n", e)
		}
	}()
	h := &handler{want: int(count), cancel: cancel}
	for ctx.Err() == nil && len(h.got) < h.want {
		if err := g.Consume(ctx, []string{topic}, h); err != nil {
			fail("consume: %v", err)
		}
	}
	if len(h.got) < h.want {
		fail("consumed %d of %d messages before the deadline", len(h.got), count)
	}
	if err := g.Close(); err != nil {
		fail("close group: %v", err)
	}
	out := json.NewEncoder(os.Stdout)
	for _, m := range h.got {
		if err := out.Encode(m); err != nil {
			fail("write: %v", err)
		}
	}
}

func main() {
	a := os.Args
	switch {
	case len(a) == 7 && a[1] == "produce":
		produce(a[2], a[3], atoi(a[4]), atoi(a[5]), atoi(a[6]))
	case len(a) == 6 && a[1] == "group":
		group(a[2], a[3], a[4], atoi(a[5]))
	default:
		fail("usage: produce BOOTSTRAP TOPIC COUNT FIRST_TIMESTAMP_MS STEP_MS | group BOOTSTRAP TOPIC GROUP COUNT")
	}
}
