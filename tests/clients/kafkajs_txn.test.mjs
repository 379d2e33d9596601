// kafkajs 2.2.4 transactions (non-flexible versions: InitProducerId v1, AddPartitionsToTxn v1,
// AddOffsetsToTxn v1, EndTxn v1, TxnOffsetCommit v1): committed and aborted transactions read
// back by kcat with read_committed, and offsets sent to a transaction reaching the group only on
// commit.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { withBroker } from './harness.mjs';

function client(bootstrap) {
  return new Kafka({
    clientId: 'sluice-txn-tests',
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 5, initialRetryTime: 100 },
  });
}

// Values of a topic as a read_committed consumer sees them (kcat: librdkafka's default).
function kcatValues(bootstrap, topic) {
  const out = execFileSync('kcat', ['-C', '-b', bootstrap, '-t', topic, '-e', '-o', 'beginning', '-q',
    '-X', 'isolation.level=read_committed', '-f', '%s\n'], { timeout: 60_000 }).toString();
  return out.split('\n').filter(Boolean);
}

test('kafkajs transactions: commit, abort, sendOffsets', async () => {
  await withBroker('kafkajs-txn', ['--cores', '2'], async (broker) => {
    const kafka = client(broker.bootstrap);
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic: 'js-txn', numPartitions: 2 }], waitForLeaders: true });
      const producer = kafka.producer({ transactionalId: 'js-txn-id', idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      try {
        const committed = [];
        for (let t = 0; t < 4; t++) {
          const txn = await producer.transaction();
          const messages = [0, 1, 2].map((i) => ({ value: `t${t}-${i}`, partition: i % 2 }));
          await txn.send({ topic: 'js-txn', messages });
          if (t % 2 === 0) {
            await txn.commit();
            committed.push(...messages.map((m) => m.value));
          } else {
            await txn.abort();
          }
        }
        // Offsets: aborted first (the group sees nothing), then committed.
        const offsets = { consumerGroupId: 'js-txn-group', topics: [{ topic: 'js-txn', partitions: [{ partition: 0, offset: '2' }] }] };
        let txn = await producer.transaction();
        await txn.sendOffsets(offsets);
        await txn.abort();
        let fetched = await admin.fetchOffsets({ groupId: 'js-txn-group', topics: ['js-txn'] });
        assert.equal(fetched[0].partitions.find((p) => p.partition === 0).offset, '-1');
        txn = await producer.transaction();
        await txn.sendOffsets(offsets);
        await txn.commit();
        fetched = await admin.fetchOffsets({ groupId: 'js-txn-group', topics: ['js-txn'] });
        assert.equal(fetched[0].partitions.find((p) => p.partition === 0).offset, '2');

        assert.deepEqual(kcatValues(broker.bootstrap, 'js-txn').sort(), committed.sort());
      } finally {
        await producer.disconnect();
      }
    } finally {
      await admin.disconnect();
    }
  });
});
