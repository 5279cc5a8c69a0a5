import { type BlockList, isIP } from 'node:net';
import type { AdminAccessConfig } from '../config/edge-schema.ts';
import {
  type AdminGroup,
  adminGroupNames,
  ocommsAdminGroups,
} from '../config/presets/ocomms-admin-groups.ts';
import { buildTrustList, unmapIpv4 } from '../proxy/client-address.ts';
import type { Reply } from '../proxy/reply.ts';
import { allowed, type Decision, type RequestPolicy } from './decision.ts';

type GuardedGroup = { readonly group: AdminGroup; readonly networks: BlockList };

// First segments that are the app's own, never a workspace slug.
const notWorkspaces: ReadonlySet<string> = new Set(['api', '_next', 'socket.io']);

const refusal: Reply = { status: 403, code: 'GUARD_ERR_ADMIN_NETWORK' };

// Admin functions answer only to the networks listed for their group. The
// address checked is the one the core resolved: the peer, or the first hop
// not written by a trusted proxy, so a client cannot name itself an insider
// with X-Forwarded-For. Off (undefined) while no network is listed.
export function buildAdminAccess(config: AdminAccessConfig): RequestPolicy | undefined {
  const groups = guardedGroups(config);
  const actions = new Set(config.actionIds.map((id) => id.toLowerCase()));
  const actionNetworks = buildTrustList(config.allow);
  if (groups.length === 0 && actions.size === 0) return undefined;

  return {
    name: 'admin-access',
    appliesTo(method, path) {
      if (actions.size > 0 && method === 'POST') return true;
      return groups.some((entry) => inGroup(entry.group, path));
    },
    decide(request) {
      const ip = unmapIpv4(request.client.ip);
      const entry = groups.find((candidate) => inGroup(candidate.group, request.path));
      if (entry) return contains(entry.networks, ip) ? allowed : refuse(entry);
      const action = request.headers['next-action'];
      const id = typeof action === 'string' ? action.trim().toLowerCase() : undefined;
      if (!id || !actions.has(id) || !actionNetworks) return allowed;
      return contains(actionNetworks, ip) ? allowed : refuse(undefined);
    },
  };
}

function refuse(entry: GuardedGroup | undefined): Decision {
  const group = entry?.group.name ?? 'server-action';
  return {
    allow: false,
    reply: refusal,
    event: { type: 'admin.network_denied', outcome: 'denied', details: { group } },
  };
}

function guardedGroups(config: AdminAccessConfig): GuardedGroup[] {
  const guarded: GuardedGroup[] = [];
  for (const name of adminGroupNames) {
    const setting = config.groups[name];
    if (setting === false) continue;
    const cidrs = setting?.allow ?? config.allow;
    const networks = buildTrustList(cidrs);
    if (networks) guarded.push({ group: ocommsAdminGroups[name], networks });
  }
  return guarded;
}

function inGroup(group: AdminGroup, path: string): boolean {
  if (group.paths.includes(path)) return true;
  if (group.prefixes.some((prefix) => path.startsWith(prefix))) return true;
  if (!group.workspaceSegment) return false;
  // "/<workspace>/settings" and everything under it; a workspace slug has no "/".
  const second = path.indexOf('/', 1);
  if (second <= 1 || notWorkspaces.has(path.slice(1, second))) return false;
  const rest = path.slice(second + 1);
  const segment = group.workspaceSegment;
  return rest === segment || rest.startsWith(`${segment}/`);
}

function contains(list: BlockList, ip: string): boolean {
  const family = isIP(ip);
  if (family === 0) return false;
  return list.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}
