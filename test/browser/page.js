// Page helpers shared by the browser tests: read text, wait for an element,
// click a button by its label, type into a field, check accessibility.
'use strict';

const fs = require('fs');

const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

function pageHelpers(page) {
  const text = (sel) => page.$eval(sel, (e) => e.textContent);
  const visible = (sel, ms = 8000) => page.waitForSelector(sel, { visible: true, timeout: ms }).then(() => true, () => false);
  const clickButton = async (label, scope = 'body') => {
    const handle = await page.evaluateHandle((label, scope) => [...document.querySelector(scope).querySelectorAll('button')]
      .find((b) => b.textContent.trim() === label && !b.disabled), label, scope);
    const el = handle.asElement();
    if (!el) throw new Error('no button ' + label);
    await el.click();
  };
  // replace the field's value as a keyboard user would
  const type = async (sel, value) => {
    await page.focus(sel);
    await page.keyboard.down('Control');
    await page.keyboard.press('KeyA');
    await page.keyboard.up('Control');
    await page.keyboard.press('Backspace');
    if (value) await page.type(sel, value);
  };
  // axe-core's serious and critical violations on the page as it is, one line each
  const axeViolations = async () => {
    await page.evaluate(axeSource);            // through the DevTools protocol: no script tag, the CSP stays whole
    return page.evaluate(async () => {
      const res = await window.axe.run(document, { resultTypes: ['violations'] });
      return res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((x) => x.target.join(' ')).join(', ')}`);
    });
  };
  return { text, visible, clickButton, type, axeViolations };
}

module.exports = { pageHelpers };
