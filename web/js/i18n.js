// Texts of the console: Vietnamese by default, English on request. Each view
// keeps its own dictionary file (js/i18n/<view>.js exporting {vi: {...}, en:
// {...}}) so that views are written side by side without touching a shared
// table; t() falls back to English, then to the key itself.
const dicts = { vi: {}, en: {} };
const listeners = new Set();
let lang = localStorage.getItem('vigil-lang') === 'en' ? 'en' : 'vi';

export function register(dict) {
  for (const l of Object.keys(dicts)) Object.assign(dicts[l], dict[l] || {});
}

export function t(key, vars) {
  let s = dicts[lang][key] ?? dicts.en[key] ?? key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

export function language() { return lang; }

export function setLanguage(l) {
  lang = l === 'en' ? 'en' : 'vi';
  localStorage.setItem('vigil-lang', lang);
  document.documentElement.lang = lang;
  for (const f of listeners) f(lang);
}

export function onLanguage(f) { listeners.add(f); return () => listeners.delete(f); }

// Fill [data-i18n] (text) and [data-i18n-placeholder] elements under root.
export function apply(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
}
