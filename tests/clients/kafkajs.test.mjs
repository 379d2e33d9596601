// kafkajs 2.2.4 (non-flexible versions only: Produce <= 7, Metadata <= 6, ApiVersions <= 2).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { withBroker, Broker } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

function client(bootstrap) {
  return new Kafka({
    clientId: 'sluice-tests',
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 5, initialRetryTime: 100 },
  });
}

// Reads a topic back with Debian's kcat (kafkajs can only consume through groups).
function kcatRead(bootstrap, topic) {
  const out = execFileSync('kcat', ['-C', '-b', bootstrap, '-t', topic, '-e', '-o', 'beginning', '-q',
    '-f', '%p\t%o\t%k\t%s\n'], { timeout: 60_000 }).toString();
  return out.split('\n').filter(Boolean).map((l) => {
    const [p, o, k, v] = l.split('\t');
    return { partition: Number(p), offset: Number(o), key: k, value: v };
  });
}

test('kafkajs admin createTopics and fetchTopicMetadata', async () => {
  await withBroker('kafkajs-admin', ['--cores', '2'], async (broker) => {
    const admin = client(broker.bootstrap).admin();
    await admin.connect();
    try {
      assert.equal(await admin.createTopics({ topics: [{ topic: 'js-admin', numPartitions: 4 }], waitForLeaders: true }), true);
      // A second create of the same name is not an error for kafkajs, but creates nothing.
      assert.equal(await admin.createTopics({ topics: [{ topic: 'js-admin', numPartitions: 4 }] }), false);
      const md = await admin.fetchTopicMetadata({ topics: ['js-admin'] });
      assert.equal(md.topics.length, 1);
      const parts = md.topics[0].partitions.sort((a, b) => a.partitionId - b.partitionId);
      assert.deepEqual(parts.map((p) => p.partitionId), [0, 1, 2, 3]);
      for (const p of parts) {
        assert.ok(p.leader === 0 || p.leader === 1, `leader ${p.leader}`);
        assert.deepEqual(p.replicas, [p.leader]);
        assert.deepEqual(p.isr, [p.leader]);
      }
      assert.ok((await admin.listTopics()).includes('js-admin'));
      const cluster = await admin.describeCluster();
      assert.equal(cluster.controller, 0);
      assert.deepEqual(cluster.brokers.map((b) => b.port).sort(), [...broker.ports.shards].sort());
    } finally {
      await admin.disconnect();
    }
  });
});

test('kafkajs produces with acks all, read back by kcat', async () => {
  await withBroker('kafkajs-produce', ['--cores', '2'], async (broker) => {
    const kafka = client(broker.bootstrap);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'js-produce', numPartitions: 2 }], waitForLeaders: true });
    await admin.disconnect();

    const producer = kafka.producer();
    await producer.connect();
    const sent = [];
    try {
      for (let round = 0; round < 5; round++) {
        const messages = [];
        for (let i = 0; i < 20; i++) {
          const n = round * 20 + i;
          messages.push({ key: `k${n}`, value: `value-${n}`, partition: n % 2 });
        }
        const meta = await producer.send({ topic: 'js-produce', acks: -1, messages });
        for (const m of meta) assert.equal(m.errorCode, 0);
        sent.push(...messages);
      }
    } finally {
      await producer.disconnect();
    }
    const rows = kcatRead(broker.bootstrap, 'js-produce');
    assert.equal(rows.length, 100);
    for (const p of [0, 1]) {
      const got = rows.filter((r) => r.partition === p);
      const want = sent.filter((m) => m.partition === p);
      assert.deepEqual(got.map((r) => r.offset), want.map((_, i) => i));
      assert.deepEqual(got.map((r) => [r.key, r.value]), want.map((m) => [m.key, m.value]));
    }
  });
});

const GROUP_FLAGS = ['--cores', '2', '--group-initial-rebalance-delay-ms', '300'];

// Consumes with a kafkajs group consumer until `want` messages arrived (bounded), then disconnects
// (committing what it processed and leaving the group).
async function groupConsume(kafka, groupId, topic, want) {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 500 });
  await consumer.connect();
  const got = [];
  let done;
  const finished = new Promise((resolve) => { done = resolve; });
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        got.push({ partition, key: message.key.toString(), value: message.value.toString() });
        if (got.length >= want) done();
      },
    });
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`got ${got.length} of ${want} messages within 60s`)), 60_000);
    });
    try {
      await Promise.race([finished, timeout]);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await consumer.disconnect();
  }
  return got;
}

// The tutorial flow: explicit partitions by first letter, a group consumer from the beginning;
// then a broker restart, and a new consumer of the group resumes after what was committed.
test('kafkajs group consumer: partitions by first letter, commit, restart, resume', async () => {
  await withBroker('kafkajs-group', GROUP_FLAGS, async (broker) => {
    const topic = 'js-group';
    const groupId = 'js-group-g';
    const admin = client(broker.bootstrap).admin();
    await admin.connect();
    assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true }), true);
    await admin.disconnect();

    const byLetter = (word) => (word[0].toUpperCase() <= 'M' ? 0 : 1);
    const send = async (words) => {
      const producer = client(broker.bootstrap).producer();
      await producer.connect();
      try {
        for (const w of words) {
          const [meta] = await producer.send({ topic, messages: [{ key: w, value: `value of ${w}`, partition: byLetter(w) }] });
          assert.equal(meta.errorCode, 0);
        }
      } finally {
        await producer.disconnect();
      }
    };
    const first = ['apple', 'Banana', 'melon', 'nectarine', 'Orange', 'zucchini', 'kiwi', 'pear'];
    await send(first);
    const got = await groupConsume(client(broker.bootstrap), groupId, topic, first.length);
    assert.equal(got.length, first.length);
    for (const m of got) assert.equal(m.partition, byLetter(m.key), `${m.key} arrived on partition ${m.partition}`);
    assert.deepEqual(got.map((m) => m.key).sort(), [...first].sort());

    await broker.stop();
    await broker.start();
    const second = ['grape', 'Quince', 'lime', 'yam'];
    await send(second);
    const resumed = await groupConsume(client(broker.bootstrap), groupId, topic, second.length);
    // Exactly the new messages: nothing committed before the restart is delivered again.
    assert.deepEqual(resumed.map((m) => m.key).sort(), [...second].sort());
    for (const m of resumed) assert.equal(m.partition, byLetter(m.key));
  });
});

test('node harness reports a missing binary clearly', async () => {
  const b = new Broker(here, [], path.join(here, 'no-such-sluice'));
  await assert.rejects(b.start(), /sluice binary not found at .*no-such-sluice.*SLUICE_BIN/);
});

test('node harness reads the ports file and stops the broker (fake broker)', async () => {
  await withBroker('node-harness-fake', [], async (broker) => {
    assert.match(broker.bootstrap, /^127\.0\.0\.1:\d+$/);
    assert.equal(broker.ports.shards.length, 2);
  }, path.join(here, 'fake_sluice.py'));
});
