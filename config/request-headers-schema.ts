import { z } from 'zod';

// RFC 9110 section 5.1: a field name is a token. Names are compared in lower
// case, as the guard reads them.
const token = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

// Without these the guard cannot forward a request at all: Host names the
// target, Connection and Upgrade carry a WebSocket handshake.
const needed = ['host', 'connection', 'upgrade'];

const headerName = z
  .string()
  .regex(token, 'expected a header name')
  .transform((text) => text.toLowerCase())
  .refine((name) => !needed.includes(name), {
    message: 'the guard needs this header to forward requests',
  });

const headerPrefix = z
  .string()
  .regex(token, 'expected the start of a header name')
  .transform((text) => text.toLowerCase())
  .refine((prefix) => !needed.some((name) => name.startsWith(prefix)), {
    message: 'this prefix covers a header the guard needs to forward requests',
  });

// Client headers removed before a request reaches the app. `nextjsInternal`
// left out follows the preset: on with `preset: ocomms`, off with `none`.
export const dropRequestHeadersSchema = z
  .strictObject({
    nextjsInternal: z.boolean().optional(),
    names: z.array(headerName).default([]),
    prefixes: z.array(headerPrefix).default([]),
  })
  .prefault({});

export type DropRequestHeadersConfig = z.output<typeof dropRequestHeadersSchema>;
