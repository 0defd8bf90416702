// The only module that opens connections to the Temporal frontend.
import { Client, Connection } from '@temporalio/client';
import { type Config, serviceHostOf } from '../config';

export function temporalAddress(config: Config): string {
  return `${serviceHostOf(config, 'temporal')}:${config.stack.temporal.port}`;
}

export async function connectTemporal(config: Config): Promise<Client> {
  const connection = await Connection.connect({ address: temporalAddress(config), connectTimeout: '5s' });
  return new Client({ connection, namespace: config.stack.temporal.namespace });
}

/** True when the frontend reports SERVING on the gRPC health service. */
export async function temporalHealthy(config: Config): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address: temporalAddress(config), connectTimeout: '2s' });
    const response = await connection.healthService.check({});
    // ServingStatus.SERVING === 1
    return response.status === 1;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}
