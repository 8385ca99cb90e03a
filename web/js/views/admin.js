// Placeholder until this view is built: the shell routes here already.
import { t } from '../i18n.js';

export function mount(el) {
  const p = document.createElement('p');
  p.className = 'soon';
  p.textContent = t('shell.soon');
  el.replaceChildren(p);
}

export function unmount() {}
