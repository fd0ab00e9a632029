// Every page of the dashboard: its route (a hash path; `:name` matches one segment), the
// module that draws it (loaded when first visited), and, for an instance's areas, the
// entry in the side navigation. A new area is one module here plus one line below.
//
// Areas the lead adds as their API lands (each one page module like scripts.js):
// script endpoints, triggers, schedules, data endpoints, templates.

export const pages = [
  { route: 'instances', load: () => import('./instances.js') },
  { route: 'i/:instance', redirect: (p) => `i/${encodeURIComponent(p.instance)}/classes` },

  { id: 'classes', nav: 'Classes', route: 'i/:instance/classes', load: () => import('./classes.js') },
  { section: 'classes', route: 'i/:instance/classes/new', load: () => import('./class_edit.js') },
  { section: 'classes', route: 'i/:instance/classes/:class/edit', load: () => import('./class_edit.js') },
  { section: 'classes', route: 'i/:instance/classes/:class/objects', load: () => import('./objects.js') },

  { id: 'users', nav: 'Users', route: 'i/:instance/users', load: () => import('./users.js') },
  { id: 'groups', nav: 'Groups', route: 'i/:instance/groups', load: () => import('./groups.js') },

  { id: 'channels', nav: 'Channels', route: 'i/:instance/channels', load: () => import('./channels.js') },
  { section: 'channels', route: 'i/:instance/channels/:channel', load: () => import('./channel_live.js') },

  { id: 'scripts', nav: 'Scripts', route: 'i/:instance/scripts', load: () => import('./scripts.js') },
  { section: 'scripts', route: 'i/:instance/scripts/:script', load: () => import('./script_edit.js') },

  { id: 'api-keys', nav: 'API keys', route: 'i/:instance/api-keys', load: () => import('./api_keys.js') },
  { id: 'admins', nav: 'Admins', route: 'i/:instance/admins', load: () => import('./admins.js') },
];
