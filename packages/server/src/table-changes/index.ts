// Table changes for postgres_changes bindings: the extension the server plugs into its join handling.
export { createTableChanges, type TableChanges, type TableChangesOptions } from './extension.js';
