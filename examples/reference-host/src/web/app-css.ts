/** The product's own layout, on the ui-kit's tokens (served after base.css and the host theme). */
export const APP_CSS = `
body { margin: 0; background: var(--annex-color-surface-subtle, #f6f8fa); }
.topbar { display: flex; align-items: center; gap: 1rem; padding: .75rem 1.25rem; background: var(--annex-color-primary); color: var(--annex-color-on-primary); }
.topbar a, .topbar button { color: var(--annex-color-on-primary); }
.topbar .brand { font-weight: 600; text-decoration: none; margin-right: auto; }
.topbar .logout { margin: 0; }
.topbar .logout button { background: transparent; border: 1px solid currentColor; border-radius: 4px; padding: .25rem .75rem; cursor: pointer; font: inherit; }
.shell { display: flex; min-height: calc(100vh - 3rem); }
.menu { width: 14rem; flex: none; padding: 1rem; border-right: 1px solid var(--annex-color-border, #d0d7de); background: var(--annex-color-surface, #fff); }
.menu ul { list-style: none; margin: 0; padding: 0; }
.menu li a { display: block; padding: .4rem .6rem; border-radius: 4px; text-decoration: none; color: var(--annex-color-text); }
.menu li.sub a { padding-left: 1.4rem; font-size: .95em; }
.menu li a[aria-current="page"] { background: var(--annex-color-primary); color: var(--annex-color-on-primary); }
main { flex: 1; padding: 1.25rem 2rem; min-width: 0; }
.card { background: var(--annex-color-surface, #fff); border: 1px solid var(--annex-color-border, #d0d7de); border-radius: 8px; padding: 1rem 1.25rem; margin: 1rem 0; }
.narrow { max-width: 24rem; margin: 3rem auto; }
form label { display: block; margin: .75rem 0; }
form input[type=email], form input[type=password] { display: block; width: 100%; box-sizing: border-box; padding: .5rem; margin-top: .25rem; font: inherit; }
form button[type=submit] { padding: .5rem 1rem; font: inherit; background: var(--annex-color-primary); color: var(--annex-color-on-primary); border: 0; border-radius: 4px; cursor: pointer; }
.error { color: var(--annex-color-danger, #b42318); }
.extension-frame iframe { width: 100%; min-height: 480px; border: 1px solid var(--annex-color-border, #d0d7de); border-radius: 8px; background: #fff; }
.widgets { display: grid; grid-template-columns: repeat(auto-fill, minmax(16rem, 1fr)); gap: 1rem; margin: 1rem 0; }
.widget { margin: 0; }
.widget h3 { margin: 0 0 .5rem; font-size: 1rem; }
.widget iframe { width: 100%; border: 0; background: transparent; }
.console-grid { display: grid; gap: 1rem; }
.console-section[hidden] { display: none; }
.log-lines { font-family: var(--annex-font-mono, monospace); font-size: .85rem; white-space: pre-wrap; max-height: 20rem; overflow: auto; }
.log-line { padding-left: 2ch; text-indent: -2ch; }
.log-line + .log-line { border-top: 1px dotted var(--annex-color-border, #d0d7de); }
`;
