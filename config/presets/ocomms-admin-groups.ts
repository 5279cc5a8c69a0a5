// OComms' admin functions, grouped so an allow-list can cover each group with
// its own networks. Paths are compared normalised (lower case, dot segments
// resolved), as routes are.

export type AdminGroup = {
  readonly name: string;
  /** Exact paths. */
  readonly paths: readonly string[];
  /** Path prefixes, each ending in "/". */
  readonly prefixes: readonly string[];
  /** Pages under a workspace: /<workspace>/<segment>/... */
  readonly workspaceSegment?: string;
};

export const adminGroupNames = ['admin-api', 'organization', 'settings'] as const;
export type AdminGroupName = (typeof adminGroupNames)[number];

export const ocommsAdminGroups: Readonly<Record<AdminGroupName, AdminGroup>> = {
  // Audit log and export, and custom emoji, which every member of a
  // workspace sees.
  'admin-api': {
    name: 'admin-api',
    paths: ['/api/admin', '/api/upload/emoji'],
    prefixes: ['/api/admin/'],
  },
  // better-auth's organization plugin: members, roles, invitations, the
  // workspace itself.
  organization: {
    name: 'organization',
    paths: ['/api/auth/organization'],
    prefixes: ['/api/auth/organization/'],
  },
  // The settings pages of a workspace, and the Server Actions posted to them.
  settings: { name: 'settings', paths: [], prefixes: [], workspaceSegment: 'settings' },
};
