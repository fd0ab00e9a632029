// What several pages share: the admin's instance names (for the switcher in the header).

import { api } from './api.js';

let instanceNames = null;

/** The names of the instances the admin has a role in (cached until changed). */
export async function knownInstances() {
  if (!instanceNames) {
    const names = [];
    let url = '/v1.1/instances/?page_size=100';
    while (url && names.length < 1000) {
      const page = await api.get(url);
      names.push(...page.objects.map((i) => i.name));
      url = page.next;
    }
    instanceNames = names;
  }
  return instanceNames;
}

/** Forgets the cached names (after a create, rename or delete, or a sign-out). */
export function instancesChanged() {
  instanceNames = null;
}
