import { isGuardError } from '../common/errors.ts';
import { createLogger, createStdoutDestination } from '../common/log.ts';
import { ConfigError, formatProblems, loadConfigFile } from '../config/load.ts';
import { startGuard } from '../proxy/guard.ts';

export async function runGuard(file: string, runtimeWarning: string | undefined): Promise<number> {
  let config: ReturnType<typeof loadConfigFile>['config'];
  try {
    config = loadConfigFile(file).config;
  } catch (error) {
    if (error instanceof ConfigError) process.stderr.write(`${formatProblems(error)}\n`);
    else if (isGuardError(error)) process.stderr.write(`${error.code}: ${error.message}\n`);
    else throw error;
    return 1;
  }

  const logger = createLogger(config.log.level, createStdoutDestination());
  if (runtimeWarning) logger.warn({ reason: runtimeWarning }, 'unsupported runtime allowed');
  let guard: Awaited<ReturnType<typeof startGuard>>;
  try {
    guard = await startGuard(config, logger, file);
  } catch (error) {
    const code = isGuardError(error) ? error.code : 'GUARD_ERR_STARTUP';
    logger.fatal({ code, reason: (error as Error).message }, 'guard failed to start');
    return 1;
  }

  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'stopping');
      guard.close().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    // The whole configuration, certificates included; the outcome is logged
    // and audited by the reload itself.
    process.on('SIGHUP', () => {
      guard.reload({ channel: 'signal', requestedBy: 'SIGHUP' }).catch((error: Error) => {
        logger.error({ err: { message: error.message } }, 'configuration reload failed');
      });
    });
  });
}
