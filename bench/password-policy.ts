// node bench/password-policy.ts: what one password decision costs, by kind of
// password, with the default policy. Bounded: a fixed number of rounds.
import { passwordPolicySchema } from '../config/password-schema.ts';
import { buildPasswordPolicy } from '../policies/password-policy.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 200);

const samples: Record<string, string> = {
  'too short': 'kettle42',
  blocklisted: 'qwerty123456',
  'common, weak': 'password1234567',
  passphrase: 'correct horse battery staple',
  'random 16': 'x7$kP!qz9Lm#2vRq',
  'with context': 'alice.smith2024!',
  'look-alikes': 'P@$$w0rd!1@3$5^7*9)',
  '128 symbols': '3#@!$%^&*()_+{}|:"<>?~`-=[];,./'.repeat(4),
  '128 mixed': 'a1!'.repeat(42).concat('xy'),
  '1 MB': 'x7$kP!qz9'.repeat(120_000),
};

const started = performance.now();
const policy = buildPasswordPolicy(passwordPolicySchema.parse({}));
const buildMs = performance.now() - started;
const context = { email: 'alice.smith@example.com', name: 'Alice Smith' };

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? 0;
}

const rows: string[] = [];
for (const [label, password] of Object.entries(samples)) {
  const timings: number[] = [];
  let verdict = '';
  for (let round = 0; round < ROUNDS; round += 1) {
    const before = performance.now();
    const decision = policy.evaluate({ password, ...context });
    timings.push(performance.now() - before);
    verdict = decision.allow ? 'allow' : decision.rule;
  }
  timings.sort((a, b) => a - b);
  const p50 = percentile(timings, 0.5).toFixed(3);
  const p99 = percentile(timings, 0.99).toFixed(3);
  const max = (timings.at(-1) ?? 0).toFixed(3);
  rows.push(
    `${label.padEnd(14)} ${verdict.padEnd(14)} ${p50.padStart(8)} ${p99.padStart(8)} ${max}`,
  );
}

process.stdout.write(`policy built in ${buildMs.toFixed(0)} ms; ${ROUNDS} rounds each\n`);
process.stdout.write(
  `${'password'.padEnd(14)} ${'decision'.padEnd(14)}   p50 ms   p99 ms max ms\n`,
);
process.stdout.write(`${rows.join('\n')}\n`);
