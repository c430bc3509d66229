// Command lines with credentials and what must be left of them: one table for the contract's function, the
// agent's process collector and the server's ingest. Each secret form in the middle and at the end of the
// line, quoted and unquoted, with `=` and with a space.
export const SCRUB_CASES: ReadonlyArray<readonly [string, string]> = [
  // The agent's own key, as README once told people to start it.
  ['npm run agent -- --server http://monitor:8080 --api-key hp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg',
    'npm run agent -- --server http://monitor:8080 --api-key ***'],
  ['node /opt/tsx/cli.mjs agent/cli.ts --api-key hp_x1 --server http://m:8080', 'node /opt/tsx/cli.mjs agent/cli.ts --api-key *** --server http://m:8080'],
  ['agent --api-key=hp_x1', 'agent --api-key=***'],
  ['agent --api-key="hp x1" --once', 'agent --api-key="***" --once'],
  ["agent --api-key 'hp x1'", "agent --api-key '***'"],
  // Secret-named options, both spellings, middle and end.
  ['app --password hunter2 --verbose', 'app --password *** --verbose'],
  ['app --password hunter2', 'app --password ***'],
  ['app --password=hunter2 --verbose', 'app --password=*** --verbose'],
  ['app --password="two words" --verbose', 'app --password="***" --verbose'],
  ['app --password "two words"', 'app --password "***"'],
  ['app --passwd s3cr3t -x', 'app --passwd *** -x'],
  ['app --token abc.def.ghi -x', 'app --token *** -x'],
  ['app --token=abc', 'app --token=***'],
  ['app --secret abc -x', 'app --secret *** -x'],
  ['app --secret=abc', 'app --secret=***'],
  ['app --auth user:pw -x', 'app --auth *** -x'],
  ['app --auth=user:pw', 'app --auth=***'],
  ['app --key AKIA123 -x', 'app --key *** -x'],
  ['app --key=AKIA123', 'app --key=***'],
  ['vault login --auth-token s.123 -x', 'vault login --auth-token *** -x'],
  ['app --db-password hunter2 --clientSecret=abc', 'app --db-password *** --clientSecret=***'],
  ['java -Djavax.net.ssl.keyStorePassword=changeit -jar app.jar', 'java -Djavax.net.ssl.keyStorePassword=*** -jar app.jar'],
  ['openssl enc -pass pass:hunter2 -in x', 'openssl enc -pass *** -in x'],
  // Options that only point at or describe a secret stay.
  ['app --password-file /run/secrets/db --token-ttl 60 --no-auth serve', 'app --password-file /run/secrets/db --token-ttl 60 --no-auth serve'],
  ['app --password --verbose', 'app --password --verbose'],
  ['node --max-old-space-size=4096 server.js --keep-alive 5', 'node --max-old-space-size=4096 server.js --keep-alive 5'],
  // Database clients' short password flags.
  ['mysql -uroot -pSecret db', 'mysql -uroot -p*** db'],
  ['mysql -uroot -pSecret', 'mysql -uroot -p***'],
  ['/usr/bin/mysqldump -h db -p"two words" shop', '/usr/bin/mysqldump -h db -p"***" shop'],
  ['mysql -u root -p shop', 'mysql -u root -p shop'],
  ['sh -c mysql -uroot -pSecret -e "select 1"', 'sh -c mysql -uroot -p*** -e "select 1"'],
  ['sh -c "mysql -uroot -pSecret"', 'sh -c "mysql -uroot -p***"'],
  ['mariadb-dump -pSecret --all-databases', 'mariadb-dump -p*** --all-databases'],
  ['redis-cli -a Secret ping', 'redis-cli -a *** ping'],
  ['mongosh -u admin -p Secret', 'mongosh -u admin -p ***'],
  ['sshpass -p Secret ssh host', 'sshpass -p *** ssh host'],
  ['curl -u alice:Secret https://x', 'curl -u alice:*** https://x'],
  ['ssh -p 2222 host', 'ssh -p 2222 host'],
  ['psql -p 5432 -h db', 'psql -p 5432 -h db'],
  // user:password@ in URLs, quoted and not.
  ['pg_dump postgres://app:Secret@db:5432/shop -Fc', 'pg_dump postgres://app:***@db:5432/shop -Fc'],
  ['git clone https://bot:ghp_abc@github.com/o/r.git', 'git clone https://bot:***@github.com/o/r.git'],
  ['app --url "redis://:Secret@cache:6379/0"', 'app --url "redis://:***@cache:6379/0"'],
  ['curl https://example.com/a@b', 'curl https://example.com/a@b'],
  // NAME=value pairs with a secret name.
  ['env AWS_SECRET_ACCESS_KEY=abc123 aws s3 ls', 'env AWS_SECRET_ACCESS_KEY=*** aws s3 ls'],
  ['env AWS_SECRET_ACCESS_KEY=abc123', 'env AWS_SECRET_ACCESS_KEY=***'],
  ['PGPASSWORD=hunter2 psql -h db', 'PGPASSWORD=*** psql -h db'],
  ['sh -c GITHUB_TOKEN="a b" make release', 'sh -c GITHUB_TOKEN="***" make release'],
  ['make API_KEY=abc DB_CREDENTIALS=xyz all', 'make API_KEY=*** DB_CREDENTIALS=*** all'],
  ['make CC=gcc KEYBOARD=us TOKENIZER=bert', 'make CC=gcc KEYBOARD=us TOKENIZER=bert'],
  // Headers.
  ['curl -H "Authorization: Bearer eyJabc" https://api', 'curl -H "Authorization: Bearer ***" https://api'],
  ['curl --header=Authorization: Basic dXNlcjpwdw== https://api', 'curl --header=Authorization: Basic *** https://api'],
  ['curl -H X-Api-Key: abc https://api', 'curl -H X-Api-Key: *** https://api'],
  // Nothing secret: unchanged.
  ['/usr/sbin/sshd -D', '/usr/sbin/sshd -D'],
  ['postgres: app shop 127.0.0.1(51234) idle', 'postgres: app shop 127.0.0.1(51234) idle'],
  ['', ''],
]
