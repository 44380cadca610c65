/**
 * The configurations the interop tests load into real corosync 3.1.7 and into ours: each with
 * the addresses and hostname its namespace needs so both pick the same local node.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILTIN_CONFIG } from '../../src/config/load.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../..');
export const fixtures = path.join(repo, 'test/fixtures/configs');

function fixture(name: string): string {
  return fs.readFileSync(path.join(fixtures, name), 'utf8');
}

export interface Case {
  name: string;
  text: string;
  /** Addresses on the dummy interface (CIDR). */
  addresses?: string[];
  hostname: string;
  files?: Record<string, string>;
  /** Keys that must be present in both (sanity: the comparison saw the interesting part). */
  expect: Record<string, string>;
}

export const configCases: Case[] = [
  {
    name: 'built-in default',
    text: BUILTIN_CONFIG,
    hostname: 'ctshost',
    expect: { 'runtime.config.totem.token': '3000', 'totem.interface.0.bindnetaddr': '127.0.0.1' },
  },
  {
    name: 'vectors corosync.conf (3 nodes udpu)',
    text: fixture('vectors-3node-udpu.conf'),
    addresses: ['10.250.0.1/24'],
    hostname: 'ctshost',
    expect: {
      'runtime.config.totem.token': '3650',
      'runtime.config.totem.consensus': '4380',
      'nodelist.local_node_pos': '0',
    },
  },
  {
    name: 'udp multicast from cluster_name',
    text: fixture('udp-multicast.conf'),
    addresses: ['10.250.1.2/24'],
    hostname: 'ctshost',
    expect: { 'totem.interface.0.mcastport': '5405', 'nodelist.local_node_pos': '1' },
  },
  {
    name: 'kitchen sink (logging, quorum, uidgid, resources, unknown sections)',
    text: fixture('kitchen-sink.conf'),
    addresses: ['10.250.2.3/24'],
    hostname: 'ctshost',
    files: { 'uidgid.d/extra': 'uidgid {\n\tuid: 4001\n\tgid: 4002\n}\n' },
    expect: {
      'uidgid.config.gid.0': '1',
      'uidgid.config.uid.4001': '1',
      'logging.logger_subsys.QUORUM.subsys': 'QUORUM',
      'nodelist.node.2.nodeid': '184156675',
      'runtime.config.totem.token': '5650',
    },
  },
  {
    name: '5 nodes with token_coefficient',
    text: fixture('five-node-coefficient.conf'),
    addresses: ['10.250.3.4/24'],
    hostname: 'ctshost',
    expect: { 'runtime.config.totem.token': '3200', 'nodelist.local_node_pos': '3' },
  },
  {
    name: '3 nodes, generated nodeids, local node by hostname',
    text: fixture('three-node-autoid.conf'),
    addresses: ['10.250.4.2/24'],
    hostname: 'beta.example.com',
    expect: { 'nodelist.node.1.nodeid': '184157186', 'nodelist.local_node_pos': '1' },
  },
  {
    name: 'knet with two links',
    text: fixture('knet-two-links.conf'),
    addresses: ['10.250.5.2/24', '10.250.6.2/24'],
    hostname: 'ctshost',
    expect: {
      'runtime.config.totem.interface.1.knet_ping_interval': '200',
      'runtime.config.totem.interface.0.knet_ping_timeout': '1433',
    },
  },
];

/**
 * Keys corosync's services (mon, wd) create when they start, not config loading; compared
 * only as noted by each test. mon also overwrites a configured poll_period with its default
 * because it reads it as a string (3.1.7 quirk). wd publishes resources.watchdog_timeout = 6
 * when the config has none.
 */
export const SERVICE_KEY =
  /^resources\.system\.(load_15min|memory_used)\.(current|last_updated|state|poll_period)$/;

/** The key prefixes the acceptance comparison covers (issue: config → cmapctl). */
export const COMPARED_PREFIXES = [
  'totem.',
  'nodelist.',
  'quorum.',
  'logging.',
  'system.',
  'resources.',
  'uidgid.',
  'runtime.config.',
];
