<?php
// This file is part of local_lmsbridge, the Moodle companion plugin of lms_bridge.
//
// local_lmsbridge is free software: you can redistribute it and/or modify
// it under the terms of the GNU General Public License as published by
// the Free Software Foundation, either version 3 of the License, or
// (at your option) any later version.
//
// local_lmsbridge is distributed in the hope that it will be useful,
// but WITHOUT ANY WARRANTY; without even the implied warranty of
// MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
// GNU General Public License for more details.
//
// You should have received a copy of the GNU General Public License
// along with local_lmsbridge.  If not, see <https://www.gnu.org/licenses/>.

namespace local_lmsbridge\task;

use local_lmsbridge\webhook;

/**
 * Posts one webhook to the bridge. Throwing makes Moodle retry the task with backoff.
 *
 * @package    local_lmsbridge
 * @copyright  2026 lms_bridge contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class post_webhook extends \core\task\adhoc_task {
    /**
     * Task name shown in the admin task log.
     *
     * @return string
     */
    public function get_name(): string {
        return get_string('taskpostwebhook', 'local_lmsbridge');
    }

    /**
     * Sign and post the stored body; throw unless the bridge answers 2xx.
     */
    public function execute() {
        global $CFG;
        require_once($CFG->libdir . '/filelib.php');

        $data = $this->get_custom_data();
        $url = trim((string)get_config('local_lmsbridge', 'bridgeurl'));
        $secret = (string)get_config('local_lmsbridge', 'secret');
        if ($url === '' || $secret === '') {
            throw new \moodle_exception('webhooknotconfigured', 'local_lmsbridge');
        }
        $body = (string)$data->body;
        // Signed at send time, so a retry a day later still passes the receiver's freshness window.
        $timestamp = time();
        $plugin = \core_plugin_manager::instance()->get_plugin_info('local_lmsbridge');
        $curl = new \curl();
        $curl->setHeader([
            'Content-Type: application/json; charset=utf-8',
            'X-LmsBridge-Delivery: ' . $data->delivery_id,
            'X-LmsBridge-Timestamp: ' . $timestamp,
            'X-LmsBridge-Signature: ' . webhook::signature($secret, $timestamp, $body),
        ]);
        // \curl would send its own "MoodleBot" User-Agent header; it is replaced through the option.
        $curl->post($url, $body, [
            'CURLOPT_CONNECTTIMEOUT' => 10,
            'CURLOPT_TIMEOUT' => 20,
            'CURLOPT_USERAGENT' => 'local_lmsbridge/' . ($plugin->release ?? '') . ' Moodle/' . $CFG->release,
        ]);
        $info = $curl->get_info();
        $status = (int)($info['http_code'] ?? 0);
        if ($curl->get_errno() || $status < 200 || $status >= 300) {
            // The secret is not in the message (it ends up in the task log). $curl->error also carries
            // Moodle's own refusal ("The URL is blocked.") when HTTP security settings block the bridge URL.
            $error = (string)$curl->error !== '' ? ', ' . $curl->error : '';
            throw new \moodle_exception('webhookfailed', 'local_lmsbridge', '', (object)[
                'status' => $status,
                'error' => $error,
            ]);
        }
        mtrace('local_lmsbridge: delivered ' . $data->delivery_id . ' (HTTP ' . $status . ')');
    }
}
