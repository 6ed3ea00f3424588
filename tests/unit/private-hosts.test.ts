import { isPrivateMetadataHost } from '../../auth/src/oidc/private-hosts.ts';

const host = (url: string) => new URL(url).hostname;

test.each([
  'https://localhost/c.json',
  'https://LOCALHOST./c.json',
  'https://app.localhost/c.json',
  'https://printer.local/c.json',
  'https://metadata.google.internal/c.json',
  'https://router.home.arpa/c.json',
  'https://127.0.0.1/c.json',
  'https://127.1/c.json', // WHATWG URL normalises it to 127.0.0.1
  'https://0.0.0.0/c.json',
  'https://10.1.2.3/c.json',
  'https://100.64.0.1/c.json',
  'https://169.254.169.254/c.json',
  'https://172.16.0.1/c.json',
  'https://172.31.255.255/c.json',
  'https://192.168.1.1/c.json',
  'https://0x7f000001/c.json',
  'https://[::1]/c.json',
  'https://[::]/c.json',
  'https://[::ffff:127.0.0.1]/c.json',
  'https://[fd00::1]/c.json',
  'https://[fe80::1]/c.json',
])('%s is private', (url) => {
  expect(isPrivateMetadataHost(host(url))).toBe(true);
});

test.each([
  'https://client.example.com/c.json',
  'https://localhost.example.com/c.json',
  'https://8.8.8.8/c.json',
  'https://172.32.0.1/c.json',
  'https://[2606:4700::1111]/c.json',
])('%s is not', (url) => {
  expect(isPrivateMetadataHost(host(url))).toBe(false);
});
