/**
 * The exports of a CommonJS package loaded with `import()`. Node offers them as named exports and as
 * `default`; the esbuild bundle offers only `default`. Reading `default` first works in both.
 */
export function commonJsExports<T extends object>(namespace: T): T {
  return ((namespace as { default?: T }).default ?? namespace) as T;
}
