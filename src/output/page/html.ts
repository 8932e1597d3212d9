// The page's HTML: served (its script and style from the server), or self-contained (report --html:
// script, style and the model's data inside one file that opens offline and can be mailed). The page
// builds everything it shows from its script; the HTML is only the frame.
import { createHash } from 'node:crypto';
import type { PageData } from './model.js';

const TITLE = 'procimage';

/** The served page: its script and style come from the same server (CSP 'self'). */
export function servedHtml(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${TITLE}</title><link rel="icon" href="data:,"><link rel="stylesheet" href="page.css"></head>
<body><div id="app"></div><script src="page.js"></script></body></html>
`;
}

/**
 * JSON inside <script type="application/json">: nothing in it may close the element or open a comment
 * ("</script", "<!--"), whatever the strings of a target say; JSON allows < escaped as \\u003c.
 */
export function embedJson(data: unknown): string {
  return JSON.stringify(data).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const sha256 = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

/**
 * One file: the page's script and style inline, the model's data beside them. Its CSP allows that one
 * script (by its hash) and no connection at all: the page works offline and calls nowhere.
 */
export function standaloneHtml(js: string, css: string, data: PageData): string {
  // a script may not contain "</script" either: the bundle's strings are escaped the same way
  const script = js.replace(/<\/script/gi, '<\\/script');
  const csp = `default-src 'none'; script-src ${sha256(script)}; style-src 'unsafe-inline'; img-src data:; connect-src 'none'; ` +
    "base-uri 'none'; form-action 'none'";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<title>${TITLE}</title><link rel="icon" href="data:,"><style>${css.replace(/<\/style/gi, '<\\/style')}</style></head>
<body><div id="app"></div>
<script type="application/json" id="procimage-data">${embedJson(data)}</script>
<script>${script}</script></body></html>
`;
}
