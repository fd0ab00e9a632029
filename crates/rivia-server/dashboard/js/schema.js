// What the API allows per schema field type (spec-core §8.3, §9.3, §9.6), for the schema
// editor, the object form and the query builder. The server still validates everything;
// these tables only decide which controls are offered.

export const FIELD_TYPES = ['string', 'text', 'integer', 'float', 'boolean', 'datetime', 'file', 'reference', 'relation', 'array', 'object', 'geopoint'];

/** The options each type may carry besides name and type. */
export const TYPE_OPTIONS = {
  string: ['filter_index', 'order_index', 'unique'],
  integer: ['filter_index', 'order_index', 'unique'],
  float: ['filter_index', 'order_index', 'unique'],
  boolean: ['filter_index', 'order_index', 'unique'],
  datetime: ['filter_index', 'order_index', 'unique'],
  reference: ['target', 'filter_index', 'order_index', 'unique'],
  relation: ['target', 'filter_index'],
  array: ['filter_index'],
  geopoint: ['filter_index'],
  text: [],
  file: [],
  object: [],
};

export const FLAG_LABELS = { filter_index: 'Filter index', order_index: 'Order index', unique: 'Unique' };

export const OBJECT_PERMISSIONS = ['none', 'read', 'write', 'full'];
export const CLASS_PERMISSIONS = ['none', 'read', 'create_objects'];
export const CHANNEL_PERMISSIONS = ['none', 'subscribe', 'publish'];

/** The built-in fields of every data object that a query may filter on, with their kinds. */
export const BUILTIN_FILTERS = [
  ['id', 'integer'],
  ['created_at', 'datetime'],
  ['updated_at', 'datetime'],
  ['revision', 'integer'],
  ['owner', 'integer'],
  ['group', 'integer'],
  ['channel', 'channel'],
  ['channel_room', 'channel'],
];

const COMPARE = ['_eq', '_neq', '_gt', '_gte', '_lt', '_lte', '_in', '_nin', '_exists'];
const STRING_OPS = ['_contains', '_icontains', '_startswith', '_istartswith', '_endswith', '_iendswith', '_ieq', '_like', '_ilike'];

/** The lookups a field kind accepts. */
export function operatorsFor(kind) {
  switch (kind) {
    case 'string':
      return [...COMPARE, ...STRING_OPS];
    case 'boolean':
      return ['_eq', '_neq', '_exists'];
    case 'reference':
      return [...COMPARE, '_is'];
    case 'relation':
      return ['_contains', '_is', '_exists'];
    case 'array':
      return ['_contains'];
    case 'geopoint':
      return ['_near', '_exists'];
    default:
      return COMPARE;
  }
}

export const OPERATOR_LABELS = {
  _eq: '= equals',
  _neq: '≠ not equal',
  _gt: '> greater than',
  _gte: '≥ at least',
  _lt: '< less than',
  _lte: '≤ at most',
  _in: 'in list',
  _nin: 'not in list',
  _exists: 'is set',
  _contains: 'contains',
  _icontains: 'contains (any case)',
  _startswith: 'starts with',
  _istartswith: 'starts with (any case)',
  _endswith: 'ends with',
  _iendswith: 'ends with (any case)',
  _ieq: 'equals (any case)',
  _like: 'LIKE pattern',
  _ilike: 'LIKE pattern (any case)',
  _is: 'matches query (JSON)',
  _near: 'near (JSON)',
};

/** Whether a lookup takes a list of values. */
export const takesList = (op, kind) => op === '_in' || op === '_nin' || (op === '_contains' && (kind === 'array' || kind === 'relation'));

/** Whether a lookup takes a JSON object. */
export const takesObject = (op) => op === '_is' || op === '_near';

const NUMERIC = new Set(['integer', 'float', 'reference']);

/**
 * Converts the text typed for one value to what the API expects for the field kind:
 * numbers for numeric fields, booleans for boolean ones, text otherwise. Text that does
 * not convert is sent as typed, so the server's own message explains what is wrong.
 */
export function typedValue(text, kind) {
  const t = text.trim();
  if (NUMERIC.has(kind) && t !== '' && !Number.isNaN(Number(t))) return Number(t);
  if (kind === 'boolean') {
    if (/^(true|yes|1)$/i.test(t)) return true;
    if (/^(false|no|0)$/i.test(t)) return false;
  }
  if (kind === 'array' && t !== '' && !Number.isNaN(Number(t))) return Number(t);
  return kind === 'string' || kind === 'text' ? text : t;
}
