// The person at the keyboard of libpq's device flow, in headless Chromium (Debian's chromium,
// driven by playwright-core from examples/node_modules): opens the URL the client printed, types
// the code, signs in to the provider (tests/oidc/provider.mjs) and allows or denies access.
//
//   node tests/oidc/person.mjs SPKI URL CODE USER allow|deny|abort
//
// SPKI is the base64 SHA-256 of the provider's certificate's public key: Chromium trusts that
// certificate alone (--ignore-certificate-errors-spki-list), as a person's browser would trust
// their provider's. USER is alice, bob or carol (the password is USER-password). allow signs in
// and allows; deny signs in and denies on the consent page; abort stops at the device
// confirmation page. Prints the steps it took and the last page's text, one line each; exits 0
// when the flow ended on the page the action leads to (signed in, or interrupted), else 1.
// With PERSON_LINGER_MS set, the page stays open that long before Chromium closes (the person
// reads it): scripts/bench's B7 lets libpq finish its login meanwhile, with the browser idle, as
// it would be on the person's own machine rather than on the database server.
import { createRequire } from 'node:module';

const requireExamples = createRequire(new URL('../../examples/package.json', import.meta.url));
const { chromium } = requireExamples('playwright-core');

const [spki, url, code, user, action] = process.argv.slice(2);
if (!spki || !url || !code || !user || !['allow', 'deny', 'abort'].includes(action)) {
  console.error('usage: person.mjs SPKI URL CODE USER allow|deny|abort');
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run',
    `--ignore-certificate-errors-spki-list=${spki}`],
});
let ok = false;
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(10000);
  const step = (s) => console.log(`person: ${s}`);
  await page.goto(url);
  step(`opened ${url}: "${await page.title()}"`);
  await page.fill('input[name=user_code]', code);
  await page.click('button[form="op.deviceInputForm"]');
  await page.waitForSelector('#confirm');
  step(`the page shows the code ${await page.textContent('#code')}`);
  if (action === 'abort') {
    await page.click('#abort');
  } else {
    await page.click('#confirm');
    await page.waitForSelector('#username');
    await page.fill('#username', user);
    await page.fill('#password', `${user}-password`);
    await page.click('#signin');
    step(`signed in as ${user}`);
    await page.waitForSelector(action === 'allow' ? '#allow' : '#deny');
    await page.click(action === 'allow' ? '#allow' : '#deny');
    step(action === 'allow' ? 'allowed access' : 'denied access');
  }
  await page.waitForSelector(action === 'allow' ? '#done' : '#error');
  const text = (await page.textContent(action === 'allow' ? '#done' : '#error')).trim();
  step(`last page: "${await page.title()}": ${text}`);
  ok = true;
  const linger = Number(process.env.PERSON_LINGER_MS || 0);
  if (linger > 0) await new Promise((resolve) => { setTimeout(resolve, linger); });
} catch (e) {
  console.log(`person: failed: ${e.message.split('\n')[0]}`);
} finally {
  await browser.close();
}
process.exit(ok ? 0 : 1);
