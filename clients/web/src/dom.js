// A tiny hyperscript helper: plain DOM, no framework. Never sets `style` attributes or inline
// handlers (the server's CSP forbids inline code and styles); use classes or el.style.

/**
 * h('button', { testid: 'x', class: 'primary', onclick: fn, dataset: { id } }, 'Label')
 * `testid` sets data-testid; `on*` functions become listeners; other keys are attributes
 * (true = present, false/null/undefined = absent).
 */
export const h = (tag, props = {}, ...children) => {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue
    if (key === 'testid') el.dataset.testid = value
    else if (key === 'dataset') Object.assign(el.dataset, value)
    else if (key === 'class') el.className = value
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value)
    else if (key === 'value') el.value = value
    else el.setAttribute(key, value === true ? '' : value)
  }
  append(el, children)
  return el
}

const append = (el, children) => {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue
    el.append(child instanceof Node ? child : String(child))
  }
}

/** Replace the children of `el`. */
export const replace = (el, ...children) => {
  el.replaceChildren()
  append(el, children)
  return el
}
