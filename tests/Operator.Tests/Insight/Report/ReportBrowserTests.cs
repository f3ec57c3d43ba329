using Ferry.Operator.Insight.Report;
using Microsoft.Playwright;

namespace Ferry.Operator.Tests.Insight.Report;

/// <summary>The report opened in a real headless browser (Debian's chromium driven by Playwright): it renders without errors and its charts have a size.</summary>
public sealed class ReportBrowserTests
{
    /// <summary>Debian's chromium (scripts/setup.sh installs it); Playwright's own browser download is not used.</summary>
    public const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task The_report_renders_in_chromium_without_console_or_page_errors_and_its_charts_have_a_size()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: run scripts/setup.sh (apt-get install chromium).");
        var path = Path.Combine(Path.GetTempPath(), $"ferry-report-{Guid.NewGuid():N}.html");
        await File.WriteAllTextAsync(path, TrainingReportHtml.Render(TrainingReportTests.Sample()));
        try
        {
            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = Chromium,
                Headless = true,
                // Root in a container has no user namespace for chromium's sandbox.
                Args = ["--no-sandbox"],
            });
            var page = await browser.NewPageAsync();
            var problems = new List<string>();
            page.Console += (_, message) =>
            {
                if (message.Type is "error" or "warning")
                {
                    problems.Add($"console {message.Type}: {message.Text}");
                }
            };
            page.PageError += (_, error) => problems.Add("page error: " + error);
            page.RequestFailed += (_, request) => problems.Add("request failed: " + request.Url);

            var response = await page.GotoAsync(new Uri(path).AbsoluteUri, new PageGotoOptions { WaitUntil = WaitUntilState.Load });
            Assert.True(response?.Ok ?? true);
            var charts = await page.Locator("figure.chart > svg").AllAsync();
            Assert.Equal(2, charts.Count);
            foreach (var chart in charts)
            {
                var box = await chart.BoundingBoxAsync();
                Assert.NotNull(box);
                Assert.True(box.Width >= 100 && box.Height >= 100, $"chart box {box.Width}x{box.Height}");
                Assert.True(await chart.IsVisibleAsync());
            }

            Assert.Equal("Training report: fm <1>", await page.TitleAsync());
            Assert.Empty(problems);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
