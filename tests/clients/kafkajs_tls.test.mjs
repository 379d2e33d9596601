// kafkajs 2.2.4 over TLS: an SSL listener with mutual TLS (admin, producer, group consumer), and a
// SASL_SSL listener with SCRAM-SHA-256.
// Certificates are made by the test with `openssl` (as tls_certs.py does for the pytest tests).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { withBroker, sluiceBin } from './harness.mjs';

function openssl(dir, ...args) {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore', timeout: 30_000 });
}

// A CA, a broker certificate for 127.0.0.1 and a client certificate for `subject`.
function makePki(dir) {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, 'req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Sluice Test CA');
  const signed = (name, subject, ext) => {
    openssl(dir, 'req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
    fs.writeFileSync(path.join(dir, `${name}.ext`), `${ext}\n`);
    openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
      '-days', '2', '-out', `${name}.pem`, '-extfile', `${name}.ext`);
    return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
  };
  return {
    ca: path.join(dir, 'ca.pem'),
    broker: signed('broker', '/CN=localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost'),
    client: signed('bob', '/O=Acme/CN=bob', 'extendedKeyUsage=clientAuth'),
  };
}

function hasListeners() {
  return execFileSync(sluiceBin(), ['serve', '--help']).toString().includes('--listeners');
}

function sslBootstrap(broker) {
  const l = broker.ports.listeners.find((x) => x.protocol === 'SSL');
  return `${l.host}:${l.bootstrap}`;
}

// Create `topic` (2 partitions), produce 40 keyed messages, consume them all with group `groupId`
// and assert every one came back.
async function roundTrip(kafka, topic, groupId) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true }), true);
  } finally {
    await admin.disconnect();
  }
  const producer = kafka.producer();
  await producer.connect();
  const messages = Array.from({ length: 40 }, (_, i) => ({ key: `k${i}`, value: `value ${i}`, partition: i % 2 }));
  try {
    await producer.send({ topic, messages });
  } finally {
    await producer.disconnect();
  }
  const consumer = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 500 });
  await consumer.connect();
  const got = [];
  try {
    let done;
    const finished = new Promise((resolve) => { done = resolve; });
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        got.push(`${message.key}=${message.value}`);
        if (got.length >= messages.length) done();
      },
    });
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`got ${got.length} of ${messages.length} within 60s`)), 60_000);
    });
    try {
      await Promise.race([finished, timeout]);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await consumer.disconnect();
  }
  assert.deepEqual(got.sort(), messages.map((m) => `${m.key}=${m.value}`).sort());
}

test('kafkajs over SSL with mutual TLS: produce, group consume, principal', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-kafkajs-tls-'));
  try {
    const pki = makePki(dir);
    const flags = [
      ...(hasListeners() ? ['--listeners', 'PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0'] : []),
      '--ssl-certificate', pki.broker.cert, '--ssl-key', pki.broker.key,
      '--ssl-client-ca', pki.ca, '--ssl-client-auth', 'required',
      '--cores', '2', '--group-initial-rebalance-delay-ms', '300',
      '--log-level', 'info,sluice::net=debug',
    ];
    await withBroker('kafkajs-tls', flags, async (broker) => {
      const kafka = new Kafka({
        clientId: 'sluice-tests',
        brokers: [sslBootstrap(broker)],
        logLevel: logLevel.NOTHING,
        retry: { retries: 5, initialRetryTime: 100 },
        ssl: {
          ca: [fs.readFileSync(pki.ca)],
          cert: fs.readFileSync(pki.client.cert),
          key: fs.readFileSync(pki.client.key),
        },
      });
      await roundTrip(kafka, 'js-tls', 'js-tls-group');
      assert.ok(broker.stderr().includes('principal=User:CN=bob,O=Acme'), 'principal logged');
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('kafkajs over SASL_SSL with SCRAM-SHA-256: produce, consume, a wrong password refused', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-kafkajs-sasl-ssl-'));
  try {
    const pki = makePki(dir);
    const flags = [
      '--listeners', 'PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0',
      '--ssl-certificate', pki.broker.cert, '--ssl-key', pki.broker.key,
      '--cores', '2', '--group-initial-rebalance-delay-ms', '300',
    ];
    await withBroker('kafkajs-sasl-ssl', flags, async (broker) => {
      // The first user is created while the broker is stopped (password on stdin).
      await broker.stop();
      execFileSync(broker.binary, ['user', '--data-dir', broker.dataDir, 'create', 'carol'],
        { input: 'carol-secret\n', timeout: 30_000 });
      await broker.start();
      const l = broker.ports.listeners.find((x) => x.protocol === 'SASL_SSL');
      const client = (password) => new Kafka({
        clientId: 'sluice-tests',
        brokers: [`${l.host}:${l.bootstrap}`],
        logLevel: logLevel.NOTHING,
        retry: { retries: 2, initialRetryTime: 100 },
        ssl: { ca: [fs.readFileSync(pki.ca)] },
        sasl: { mechanism: 'scram-sha-256', username: 'carol', password },
      });
      const kafka = client('carol-secret');
      await roundTrip(kafka, 'js-sasl-ssl', 'js-sasl-ssl-group');

      const bad = client('wrong').producer();
      await assert.rejects(bad.connect(), (e) => e.type === 'SASL_AUTHENTICATION_FAILED' || /SASL SCRAM SHA256 authentication failed/.test(e.message));
      await bad.disconnect().catch(() => {});
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
