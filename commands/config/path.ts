import { IronCommand } from '../../src/cli/base-command.js'

interface PathResult {
  config_path: string
  config_dir: string
  data_dir: string
}

export default class ConfigPath extends IronCommand<PathResult> {
  static override summary = 'Print the path of the config file'
  static override examples = ['<%= config.bin %> config path', '<%= config.bin %> config path --json']

  async run(): Promise<PathResult> {
    await this.parse(ConfigPath)
    const config = await this.loadConfig()
    this.out.line(config.path)
    return { config_path: config.path, config_dir: config.dirs.configDir, data_dir: config.dirs.dataDir }
  }
}
