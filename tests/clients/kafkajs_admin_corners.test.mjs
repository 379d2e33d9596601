// kafkajs 2.2.4 and CreateTopics' replication factor (issue 16): kafkajs sends -1 (the broker's
// default) when a topic names none, which Sluice accepts as 1; a replication factor above one
// is refused with INVALID_REPLICATION_FACTOR (Sluice is a single node: README explains).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { withBroker } from './harness.mjs';

function client(bootstrap) {
  return new Kafka({
    clientId: 'sluice-tests',
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 2, initialRetryTime: 100 },
  });
}

test('kafkajs createTopics: default replication factor accepted, 2 refused', async () => {
  await withBroker('kafkajs-rf', ['--cores', '2'], async (broker) => {
    const admin = client(broker.bootstrap).admin();
    await admin.connect();
    try {
      // No replicationFactor: kafkajs sends -1.
      assert.equal(await admin.createTopics({ topics: [{ topic: 'js-rf-default', numPartitions: 2 }], waitForLeaders: true }), true);
      const md = await admin.fetchTopicMetadata({ topics: ['js-rf-default'] });
      for (const p of md.topics[0].partitions) {
        assert.deepEqual(p.replicas, [p.leader]);
      }
      await assert.rejects(
        admin.createTopics({ topics: [{ topic: 'js-rf-two', numPartitions: 1, replicationFactor: 2 }] }),
        (err) => {
          const errors = err.errors ?? [err];
          assert.ok(errors.some((e) => e.type === 'INVALID_REPLICATION_FACTOR'), `${err}`);
          return true;
        },
      );
      assert.ok(!(await admin.listTopics()).includes('js-rf-two'));
    } finally {
      await admin.disconnect();
    }
  });
});
