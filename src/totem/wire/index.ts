/**
 * Totem wire codecs (corosync 3.1.7, udp/udpu, crypto none): constants, ring ids and the
 * sequence compare, the common header, and every totemsrp message. See spec/totem-wire.md.
 */
export * from './constants.js';
export * from './seq.js';
export * from './header.js';
export * from './messages.js';
